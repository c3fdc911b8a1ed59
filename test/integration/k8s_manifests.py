"""Checks the Kubernetes manifests in conf/k8s/ (test/integration/61-k8s-manifests.sh).

    python3 k8s_manifests.py parse FILE...      every document parses and names itself
    python3 k8s_manifests.py check DIR OUTDIR   the wiring between the files; writes
                                                every ConfigMap data key ending in .yaml
                                                to OUTDIR/<configmap>__<key>

Prints one line per problem ("FILE: what") and exits 1 when there is any.
Needs PyYAML (Debian: python3-yaml).
"""

import glob
import os
import sys

import yaml

problems = []


def problem(where, what):
    problems.append("%s: %s" % (where, what))


def load(path):
    """All non-empty documents of a multi-document YAML file."""
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    for i, d in enumerate(docs):
        if not isinstance(d, dict):
            problem(path, "document %d is not a mapping" % (i + 1))
            continue
        for key in ("apiVersion", "kind"):
            if not isinstance(d.get(key), str) or not d.get(key):
                problem(path, "document %d has no %s" % (i + 1, key))
        name = (d.get("metadata") or {}).get("name")
        if not name:
            problem(path, "document %d (%s) has no metadata.name" % (i + 1, d.get("kind")))
    return docs


def cmd_parse(files):
    for path in files:
        try:
            docs = load(path)
        except yaml.YAMLError as e:
            problem(path, "YAML error: %s" % str(e).replace("\n", " "))
            continue
        if not docs:
            problem(path, "no documents")
        for d in docs:
            if isinstance(d, dict):
                print("%s: %s %s/%s" % (path, d.get("kind"), (d.get("metadata") or {}).get("namespace", "-"),
                                        (d.get("metadata") or {}).get("name")))


def by_kind(docs, kind):
    return [d for d in docs if isinstance(d, dict) and d.get("kind") == kind]


def container(spec, name, init):
    for c in spec.get("initContainers" if init else "containers") or []:
        if c.get("name") == name:
            return c
    return None


def arg_after(args, flag):
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
    return None


def cmd_check(d, outdir):
    docs = {}
    for path in sorted(glob.glob(os.path.join(d, "*.yaml"))):
        docs[path] = load(path)
    alldocs = [x for v in docs.values() for x in v]
    where = d

    # ConfigMaps: their .yaml keys go out for `sidecar --check` / `sds-agent --check`
    configs = {}
    for cm in by_kind(alldocs, "ConfigMap"):
        for key, text in (cm.get("data") or {}).items():
            if key.endswith(".yaml"):
                name = "%s__%s" % (cm["metadata"]["name"], key)
                with open(os.path.join(outdir, name), "w", encoding="utf-8") as f:
                    f.write(text)
                configs[(cm["metadata"]["name"], key)] = list(yaml.safe_load_all(text))

    deps = by_kind(alldocs, "Deployment")
    if len(deps) != 1:
        problem(where, "expected one Deployment, found %d" % len(deps))
        return
    dep = deps[0]
    ns = dep["metadata"].get("namespace", "default")
    tmpl = dep["spec"]["template"]
    spec = tmpl["spec"]
    labels = tmpl["metadata"].get("labels") or {}
    ann = tmpl["metadata"].get("annotations") or {}
    sel = dep["spec"]["selector"].get("matchLabels") or {}
    if not sel or any(labels.get(k) != v for k, v in sel.items()):
        problem(where, "the Deployment's selector does not match its template's labels")
    if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != "15090" \
            or ann.get("prometheus.io/path") != "/stats/prometheus":
        problem(where, "Prometheus annotations: want scrape \"true\", port \"15090\", path /stats/prometheus, got %r" % ann)

    inits = spec.get("initContainers") or []
    names = [c.get("name") for c in inits]
    if names[:1] != ["sidecar-init"]:
        problem(where, "the first init container must be sidecar-init (the iptables rules), got %r" % names)
    init = container(spec, "sidecar-init", True) or {}
    cmdline = (init.get("command") or []) + (init.get("args") or [])
    if not any(str(x).endswith("sidecar-iptables.sh") for x in cmdline):
        problem(where, "sidecar-init does not run sidecar-iptables.sh: %r" % cmdline)
    if init.get("restartPolicy"):
        problem(where, "sidecar-init must be a plain init container (no restartPolicy)")
    caps = ((init.get("securityContext") or {}).get("capabilities") or {})
    if sorted(caps.get("add") or []) != ["NET_ADMIN", "NET_RAW"] or caps.get("drop") != ["ALL"]:
        problem(where, "sidecar-init capabilities: want drop [ALL], add [NET_ADMIN, NET_RAW], got %r" % caps)
    mark = arg_after([str(x) for x in cmdline], "--mark")

    sc = container(spec, "sidecar", True)
    agent = container(spec, "sds-agent", True)
    for name, c in (("sidecar", sc), ("sds-agent", agent)):
        if c is None:
            problem(where, "no %s init container" % name)
            continue
        if c.get("restartPolicy") != "Always":
            problem(where, "%s must be a native sidecar (an init container with restartPolicy: Always)" % name)
        sec = c.get("securityContext") or {}
        if sec.get("runAsUser") != 1337 or sec.get("runAsGroup") != 1337:
            problem(where, "%s must run as uid/gid 1337, got %r/%r" % (name, sec.get("runAsUser"), sec.get("runAsGroup")))
    if sc is None or agent is None:
        return
    if names.index("sds-agent") > names.index("sidecar"):
        problem(where, "sds-agent must start before the sidecar")
    for name, c in (("sidecar", sc), ("sds-agent", agent)):
        if (c.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True:
            problem(where, "%s: readOnlyRootFilesystem must be true (it writes only to its volumes)" % name)
    rp = (sc.get("readinessProbe") or {}).get("httpGet") or {}
    if rp.get("port") != 15021 or rp.get("path") != "/healthz/ready":
        problem(where, "sidecar readinessProbe: want GET :15021/healthz/ready, got %r" % rp)
    if not sc.get("startupProbe"):
        problem(where, "sidecar has no startupProbe (the app would start before the proxy is ready)")
    ports = {p.get("containerPort") for p in sc.get("ports") or []}
    if not {15090, 15021} <= ports:
        problem(where, "sidecar ports: want 15090 and 15021 declared, got %r" % sorted(ports))
    for c in spec.get("containers") or []:
        if (c.get("securityContext") or {}).get("runAsUser") == 1337:
            problem(where, "app container %s runs as uid 1337 (the proxy's uid)" % c.get("name"))

    # the SDS socket: a shared emptyDir mounted by both
    vols = {v["name"]: v for v in spec.get("volumes") or []}

    def mounts(c):
        return {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
    sc_m, ag_m = mounts(sc), mounts(agent)

    # the sidecar's config and the agent's, from the ConfigMap they mount
    def config_of(c, m):
        args = [str(x) for x in (c.get("command") or []) + (c.get("args") or [])]
        path = arg_after(args, "-c")
        if path is None:
            problem(where, "%s has no -c FILE" % c["name"])
            return None
        dirn, key = os.path.split(path)
        vol = vols.get(m.get(dirn))
        if vol is None or "configMap" not in vol:
            problem(where, "%s: %s is not in a mounted ConfigMap" % (c["name"], path))
            return None
        cfg = configs.get((vol["configMap"]["name"], key))
        if cfg is None:
            problem(where, "%s: ConfigMap %s has no key %s" % (c["name"], vol["configMap"]["name"], key))
        return cfg
    sc_docs = config_of(sc, sc_m) or []
    ag_docs = config_of(agent, ag_m) or []
    own = [x for x in sc_docs if isinstance(x, dict) and "kind" not in x]
    pas = [x for x in sc_docs if isinstance(x, dict) and x.get("kind") == "PeerAuthentication"]
    if len(own) != 1:
        problem(where, "sidecar.yaml: want one document of the sidecar's own config, got %d" % len(own))
        return
    own = own[0]
    if not pas:
        problem(where, "sidecar.yaml has no PeerAuthentication document")
    # least privilege (docs/deploy.md): NET_ADMIN, and privilege escalation
    # for the image's file capability, only when the config sets socket_mark
    sc_sec = sc.get("securityContext") or {}
    sc_caps = sc_sec.get("capabilities") or {}
    mark_on = str(own.get("socket_mark") or 0) != "0"
    want_add = ["NET_ADMIN"] if mark_on else []
    if sorted(sc_caps.get("add") or []) != want_add or sc_caps.get("drop") != ["ALL"]:
        problem(where, "sidecar capabilities: want drop [ALL], add %r (socket_mark %s), got %r" %
                (want_add, own.get("socket_mark") or 0, sc_caps))
    if sc_sec.get("allowPrivilegeEscalation") is not mark_on:
        problem(where, "sidecar: allowPrivilegeEscalation must be %s with socket_mark %s (%s)" %
                (str(mark_on).lower(), own.get("socket_mark") or 0,
                 "no_new_privs would void the file capability for SO_MARK" if mark_on
                 else "no capability to gain; the sidecar sets no_new_privs itself"))
    # the only files the sidecar writes: they must be on a writable volume
    writes = [("admin.unix_socket", (own.get("admin") or {}).get("unix_socket"))]
    alp = (own.get("access_log") or {}).get("path")
    if alp not in (None, "stdout", "off"):
        writes.append(("access_log.path", alp))
    sc_rw = {m["mountPath"]: m["name"] for m in sc.get("volumeMounts") or [] if not m.get("readOnly")}
    for key, path in writes:
        if not path:
            continue
        d = os.path.dirname(str(path))
        if "emptyDir" not in vols.get(sc_rw.get(d), {}):
            problem(where, "%s %s: not on a writable emptyDir mounted by the sidecar (its root file system is read-only)" % (key, path))
    puid = arg_after([str(x) for x in cmdline], "--proxy-uid") or "1337"
    if str((sc.get("securityContext") or {}).get("runAsUser")) != puid:
        problem(where, "the sidecar runs as uid %r, but sidecar-iptables.sh exempts --proxy-uid %s" %
                ((sc.get("securityContext") or {}).get("runAsUser"), puid))
    if str(own.get("socket_mark")) != str(mark):
        problem(where, "socket_mark %r in sidecar.yaml differs from sidecar-iptables.sh --mark %r" % (own.get("socket_mark"), mark))
    # the kubelet probes the pod IP and Prometheus scrapes it, so health and
    # stats must listen beyond loopback (their default) on the declared ports
    for sec, port in (("health", 15021), ("stats", 15090)):
        addr = str((own.get(sec) or {}).get("address") or "")
        host, _, p = addr.rpartition(":")
        if not addr or host not in ("0.0.0.0", "[::]", "*", "") or p != str(port):
            problem(where, "%s.address %r: want 0.0.0.0:%d, reachable at the pod IP (the default is loopback)" %
                    (sec, addr or "(default)", port))
    node = own.get("node") or {}
    if node.get("namespace") != ns:
        problem(where, "node.namespace %r is not the Deployment's namespace %r" % (node.get("namespace"), ns))
    for k, v in (node.get("labels") or {}).items():
        if labels.get(k) != v:
            problem(where, "node.labels %s=%s is not a label of the pod template" % (k, v))
    for pa in pas:
        sel = ((pa.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if any(labels.get(k) != v for k, v in sel.items()):
            problem(where, "PeerAuthentication %s selects %r, which the pod template does not carry" % (pa["metadata"]["name"], sel))
    sock = (own.get("secrets") or {}).get("sds_socket")
    ag = ag_docs[0] if ag_docs else {}
    if not sock or sock != ag.get("socket"):
        problem(where, "secrets.sds_socket %r is not the agent's socket %r" % (sock, ag.get("socket")))
    else:
        sdir = os.path.dirname(sock)
        if sc_m.get(sdir) is None or sc_m.get(sdir) != ag_m.get(sdir) or "emptyDir" not in vols.get(sc_m[sdir], {}):
            problem(where, "the SDS socket directory %s is not one emptyDir mounted by both sidecar and sds-agent" % sdir)
    if 1337 not in (ag.get("allowed_uids") or []):
        problem(where, "the agent's allowed_uids do not include the sidecar's uid 1337")

    # cert-manager: the Secret the agent's files mode reads
    sa = spec.get("serviceAccountName", "default")
    td = node.get("trust_domain", "cluster.local")
    want_id = "spiffe://%s/ns/%s/sa/%s" % (td, ns, sa)
    certs = by_kind(alldocs, "Certificate")
    if not certs:
        problem(where, "no cert-manager Certificate")
    for cert in certs:
        cs = cert.get("spec") or {}
        if want_id not in (cs.get("uris") or []):
            problem(where, "Certificate %s: uris %r lack %s" % (cert["metadata"]["name"], cs.get("uris"), want_id))
        if ag.get("source", "files") == "files":
            fdir = (ag.get("files") or {}).get("dir")
            vol = vols.get(ag_m.get(fdir)) or {}
            if (vol.get("secret") or {}).get("secretName") != cs.get("secretName"):
                problem(where, "the agent's files.dir %s is not the Certificate's Secret %s" % (fdir, cs.get("secretName")))
        if "client auth" not in (cs.get("usages") or []) or "server auth" not in (cs.get("usages") or []):
            problem(where, "Certificate %s: usages need server auth and client auth" % cert["metadata"]["name"])
    if not any(x.get("kind") == "ServiceAccount" and x["metadata"]["name"] == sa for x in alldocs):
        problem(where, "no ServiceAccount %s" % sa)

    # the CA-mode alternative names the same identity
    for (cmname, key), cdocs in configs.items():
        for c in cdocs:
            if isinstance(c, dict) and c.get("source") == "ca":
                ca = c.get("ca") or {}
                got = "spiffe://%s/ns/%s/sa/%s" % (c.get("trust_domain", "cluster.local"), ca.get("namespace"), ca.get("service_account"))
                if got != want_id:
                    problem(where, "ConfigMap %s %s mints %s, not %s" % (cmname, key, got, want_id))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "parse":
        cmd_parse(sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        cmd_check(sys.argv[2], sys.argv[3])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
