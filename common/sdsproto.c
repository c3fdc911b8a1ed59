#include "sdsproto.h"

#include <stdlib.h>
#include <string.h>

#include "envoy/extensions/transport_sockets/tls/v3/secret.pb-c.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"

/* The typed SDS view over protobuf-c (generated from proto/ at build time).
 * protobuf-c skips unknown fields on unpack, so newer servers' extra fields
 * are harmless; see docs/sds.md for what is accepted and refused. */

typedef Envoy__Service__Discovery__V3__DiscoveryRequest pb_request;
typedef Envoy__Service__Discovery__V3__DiscoveryResponse pb_response;
typedef Envoy__Config__Core__V3__Node pb_node;
typedef Envoy__Config__Core__V3__DataSource pb_datasource;
typedef Envoy__Extensions__TransportSockets__Tls__V3__Secret pb_secret;
typedef Envoy__Extensions__TransportSockets__Tls__V3__TlsCertificate pb_tlscert;
typedef Envoy__Extensions__TransportSockets__Tls__V3__CertificateValidationContext pb_valctx;
typedef Google__Protobuf__Any pb_any;
typedef Google__Rpc__Status pb_status;

#define DS_FILENAME ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_FILENAME
#define DS_BYTES ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_BYTES
#define DS_STRING ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_STRING
#define DS_ENV ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_ENVIRONMENT_VARIABLE
#define SECRET_TLS ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_TLS_CERTIFICATE
#define SECRET_VAL ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_VALIDATION_CONTEXT

/* ---- helpers ------------------------------------------------------------ */

/* A NUL-terminated copy of len bytes (which may hold NULs). */
static char *memdup0(const void *p, size_t len)
{
    char *s = malloc(len + 1);

    if (s == NULL) {
        return NULL;
    }
    if (len > 0) {
        memcpy(s, p, len);
    }
    s[len] = '\0';
    return s;
}

/* Copy of a decoded proto3 string ("" for NULL). */
static char *dupstr(const char *s)
{
    return memdup0(s == NULL ? "" : s, s == NULL ? 0 : strlen(s));
}

/* The encoder's view of an optional string: protobuf-c writes "" (and the
 * shared empty string) as absent in proto3. */
static char *enc_str(const char *s)
{
    return (char *)(uintptr_t)(s == NULL ? "" : s);
}

static void free_strv(char **v, size_t n)
{
    size_t i;

    if (v == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

/* ---- cleanup ------------------------------------------------------------ */

void sc_sds_secret_cleanup(struct sc_sds_secret *s)
{
    if (s == NULL) {
        return;
    }
    free(s->name);
    free(s->cert_chain_pem);
    if (s->private_key_pem != NULL) {
        /* key material: do not leave it in freed heap memory */
        memset(s->private_key_pem, 0, s->private_key_len);
    }
    free(s->private_key_pem);
    free(s->trusted_ca_pem);
    free(s->crl_pem);
    memset(s, 0, sizeof(*s));
}

void sc_sds_response_cleanup(struct sc_sds_response *r)
{
    size_t i;

    if (r == NULL) {
        return;
    }
    free(r->version_info);
    free(r->nonce);
    free(r->type_url);
    for (i = 0; r->secrets != NULL && i < r->n_secrets; i++) {
        sc_sds_secret_cleanup(&r->secrets[i]);
    }
    free(r->secrets);
    memset(r, 0, sizeof(*r));
}

void sc_sds_request_cleanup(struct sc_sds_request *r)
{
    if (r == NULL) {
        return;
    }
    free(r->version_info);
    free(r->nonce);
    free(r->type_url);
    free(r->node_id);
    free(r->node_cluster);
    free_strv(r->resource_names, r->n_names);
    free(r->error_message);
    memset(r, 0, sizeof(*r));
}

/* ---- decoding ----------------------------------------------------------- */

/* One DataSource into out and outlen (left NULL when ds is absent or empty). */
static int take_datasource(const pb_datasource *ds, const char *secret, const char *field,
                           char **out, size_t *outlen, struct sc_err *err)
{
    *out = NULL;
    *outlen = 0;
    if (ds == NULL) {
        return 0;
    }
    switch (ds->specifier_case) {
    case DS_BYTES:
        *out = memdup0(ds->inline_bytes.data, ds->inline_bytes.len);
        *outlen = ds->inline_bytes.len;
        break;
    case DS_STRING:
        *out = dupstr(ds->inline_string);
        *outlen = ds->inline_string == NULL ? 0 : strlen(ds->inline_string);
        break;
    case DS_FILENAME:
        sc_err_set(err,
                   "secret \"%.100s\": %s: DataSource.filename is refused (a pushed secret "
                   "must carry inline_bytes or inline_string, not a local file path)",
                   secret, field);
        return -1;
    case DS_ENV:
        sc_err_set(err,
                   "secret \"%.100s\": %s: DataSource.environment_variable is refused (a "
                   "pushed secret must carry inline_bytes or inline_string)",
                   secret, field);
        return -1;
    default:
        return 0; /* empty DataSource: absent */
    }
    if (*out == NULL) {
        sc_err_set(err, "out of memory");
        return -1;
    }
    return 0;
}

static int take_secret(const pb_any *any, size_t idx, struct sc_sds_secret *out, struct sc_err *err)
{
    pb_secret *ps = NULL;
    int rc = -1;

    if (any == NULL || any->type_url == NULL || strcmp(any->type_url, SC_SDS_TYPE_SECRET) != 0) {
        sc_err_set(err, "resources[%zu]: type_url \"%.200s\" is not %s", idx,
                   any == NULL || any->type_url == NULL ? "" : any->type_url, SC_SDS_TYPE_SECRET);
        return -1;
    }
    ps = envoy__extensions__transport_sockets__tls__v3__secret__unpack(NULL, any->value.len,
                                                                       any->value.data);
    if (ps == NULL) {
        sc_err_set(err, "resources[%zu]: not a valid Secret message", idx);
        return -1;
    }
    out->name = dupstr(ps->name);
    if (out->name == NULL) {
        sc_err_set(err, "out of memory");
        goto done;
    }
    if (ps->type_case == SECRET_TLS && ps->tls_certificate != NULL) {
        if (take_datasource(ps->tls_certificate->certificate_chain, out->name,
                            "tls_certificate.certificate_chain", &out->cert_chain_pem,
                            &out->cert_chain_len, err) != 0 ||
            take_datasource(ps->tls_certificate->private_key, out->name,
                            "tls_certificate.private_key", &out->private_key_pem,
                            &out->private_key_len, err) != 0) {
            goto done;
        }
    } else if (ps->type_case == SECRET_VAL && ps->validation_context != NULL) {
        if (take_datasource(ps->validation_context->trusted_ca, out->name,
                            "validation_context.trusted_ca", &out->trusted_ca_pem,
                            &out->trusted_ca_len, err) != 0 ||
            take_datasource(ps->validation_context->crl, out->name, "validation_context.crl",
                            &out->crl_pem, &out->crl_len, err) != 0) {
            goto done;
        }
    }
    rc = 0;

done:
    envoy__extensions__transport_sockets__tls__v3__secret__free_unpacked(ps, NULL);
    if (rc != 0) {
        sc_sds_secret_cleanup(out);
    }
    return rc;
}

int sc_sds_response_decode(const uint8_t *buf, size_t len, struct sc_sds_response *out,
                           struct sc_err *err)
{
    pb_response *pr = NULL;
    size_t i;

    memset(out, 0, sizeof(*out));
    pr = envoy__service__discovery__v3__discovery_response__unpack(NULL, len, buf);
    if (pr == NULL) {
        sc_err_set(err, "DiscoveryResponse: not a valid protobuf message (%zu bytes)", len);
        return -1;
    }
    out->version_info = dupstr(pr->version_info);
    out->nonce = dupstr(pr->nonce);
    out->type_url = dupstr(pr->type_url);
    if (out->version_info == NULL || out->nonce == NULL || out->type_url == NULL) {
        sc_err_set(err, "out of memory");
        goto fail;
    }
    if (pr->n_resources > 0) {
        out->secrets = calloc(pr->n_resources, sizeof(*out->secrets));
        if (out->secrets == NULL) {
            sc_err_set(err, "out of memory");
            goto fail;
        }
    }
    for (i = 0; i < pr->n_resources; i++) {
        if (take_secret(pr->resources[i], i, &out->secrets[i], err) != 0) {
            goto refused;
        }
        out->n_secrets = i + 1;
    }
    envoy__service__discovery__v3__discovery_response__free_unpacked(pr, NULL);
    return 0;

refused:
    /* keep what identifies the response, so that it can be NACKed */
    for (i = 0; i < out->n_secrets; i++) {
        sc_sds_secret_cleanup(&out->secrets[i]);
    }
    free(out->secrets);
    out->secrets = NULL;
    out->n_secrets = 0;
    envoy__service__discovery__v3__discovery_response__free_unpacked(pr, NULL);
    return -1;

fail:
    envoy__service__discovery__v3__discovery_response__free_unpacked(pr, NULL);
    sc_sds_response_cleanup(out);
    return -1;
}

int sc_sds_request_decode(const uint8_t *buf, size_t len, struct sc_sds_request *out,
                          struct sc_err *err)
{
    pb_request *pr = NULL;
    size_t i;

    memset(out, 0, sizeof(*out));
    pr = envoy__service__discovery__v3__discovery_request__unpack(NULL, len, buf);
    if (pr == NULL) {
        sc_err_set(err, "DiscoveryRequest: not a valid protobuf message (%zu bytes)", len);
        return -1;
    }
    out->version_info = dupstr(pr->version_info);
    out->nonce = dupstr(pr->response_nonce);
    out->type_url = dupstr(pr->type_url);
    out->node_id = dupstr(pr->node == NULL ? NULL : pr->node->id);
    out->node_cluster = dupstr(pr->node == NULL ? NULL : pr->node->cluster);
    out->error_message = dupstr(pr->error_detail == NULL ? NULL : pr->error_detail->message);
    if (out->version_info == NULL || out->nonce == NULL || out->type_url == NULL ||
        out->node_id == NULL || out->node_cluster == NULL || out->error_message == NULL) {
        sc_err_set(err, "out of memory");
        goto fail;
    }
    if (pr->error_detail != NULL) {
        out->has_error = 1;
        out->error_code = pr->error_detail->code;
    }
    if (pr->n_resource_names > 0) {
        out->resource_names = calloc(pr->n_resource_names, sizeof(*out->resource_names));
        if (out->resource_names == NULL) {
            sc_err_set(err, "out of memory");
            goto fail;
        }
    }
    for (i = 0; i < pr->n_resource_names; i++) {
        out->resource_names[i] = dupstr(pr->resource_names[i]);
        if (out->resource_names[i] == NULL) {
            sc_err_set(err, "out of memory");
            goto fail;
        }
        out->n_names = i + 1;
    }
    envoy__service__discovery__v3__discovery_request__free_unpacked(pr, NULL);
    return 0;

fail:
    envoy__service__discovery__v3__discovery_request__free_unpacked(pr, NULL);
    sc_sds_request_cleanup(out);
    return -1;
}

/* ---- encoding ----------------------------------------------------------- */

static void set_datasource(pb_datasource *ds, const char *pem, size_t len)
{
    envoy__config__core__v3__data_source__init(ds);
    ds->specifier_case = DS_BYTES;
    ds->inline_bytes.data = (uint8_t *)(uintptr_t)pem;
    ds->inline_bytes.len = len;
}

/* Packs one Secret into a new buffer in any->value. */
static int pack_secret(const struct sc_sds_secret *s, pb_any *any)
{
    pb_secret ps;
    pb_tlscert tc;
    pb_valctx vc;
    pb_datasource chain, key, ca, crl;
    size_t n;
    uint8_t *buf = NULL;

    envoy__extensions__transport_sockets__tls__v3__secret__init(&ps);
    ps.name = enc_str(s->name);
    if (s->cert_chain_pem != NULL || s->private_key_pem != NULL) {
        envoy__extensions__transport_sockets__tls__v3__tls_certificate__init(&tc);
        if (s->cert_chain_pem != NULL) {
            set_datasource(&chain, s->cert_chain_pem, s->cert_chain_len);
            tc.certificate_chain = &chain;
        }
        if (s->private_key_pem != NULL) {
            set_datasource(&key, s->private_key_pem, s->private_key_len);
            tc.private_key = &key;
        }
        ps.type_case = SECRET_TLS;
        ps.tls_certificate = &tc;
    } else if (s->trusted_ca_pem != NULL) {
        envoy__extensions__transport_sockets__tls__v3__certificate_validation_context__init(&vc);
        set_datasource(&ca, s->trusted_ca_pem, s->trusted_ca_len);
        vc.trusted_ca = &ca;
        if (s->crl_pem != NULL) {
            set_datasource(&crl, s->crl_pem, s->crl_len);
            vc.crl = &crl;
        }
        ps.type_case = SECRET_VAL;
        ps.validation_context = &vc;
    }
    n = envoy__extensions__transport_sockets__tls__v3__secret__get_packed_size(&ps);
    buf = malloc(n + 1);
    if (buf == NULL) {
        return -1;
    }
    envoy__extensions__transport_sockets__tls__v3__secret__pack(&ps, buf);
    google__protobuf__any__init(any);
    any->type_url = enc_str(SC_SDS_TYPE_SECRET);
    any->value.data = buf;
    any->value.len = n;
    return 0;
}

int sc_sds_response_encode(const struct sc_sds_response *r, uint8_t **out, size_t *outlen)
{
    pb_response pr;
    pb_any *anys = NULL;
    pb_any **ptrs = NULL;
    uint8_t *buf = NULL;
    size_t i, n, packed = 0;
    int rc = -1;

    *out = NULL;
    *outlen = 0;
    envoy__service__discovery__v3__discovery_response__init(&pr);
    pr.version_info = enc_str(r->version_info);
    pr.nonce = enc_str(r->nonce);
    pr.type_url = enc_str(r->type_url);
    if (r->n_secrets > 0) {
        anys = calloc(r->n_secrets, sizeof(*anys));
        ptrs = calloc(r->n_secrets, sizeof(*ptrs));
        if (anys == NULL || ptrs == NULL) {
            goto done;
        }
    }
    for (i = 0; i < r->n_secrets; i++) {
        if (pack_secret(&r->secrets[i], &anys[i]) != 0) {
            goto done;
        }
        packed = i + 1;
        ptrs[i] = &anys[i];
    }
    pr.n_resources = r->n_secrets;
    pr.resources = ptrs;
    n = envoy__service__discovery__v3__discovery_response__get_packed_size(&pr);
    buf = malloc(n + 1);
    if (buf == NULL) {
        goto done;
    }
    envoy__service__discovery__v3__discovery_response__pack(&pr, buf);
    *out = buf;
    *outlen = n;
    rc = 0;

done:
    for (i = 0; i < packed; i++) {
        /* the packed Secret holds the private key */
        memset(anys[i].value.data, 0, anys[i].value.len);
        free(anys[i].value.data);
    }
    free(anys);
    free(ptrs);
    return rc;
}

int sc_sds_request_encode(const struct sc_sds_request *r, uint8_t **out, size_t *outlen)
{
    pb_request pr;
    pb_node node;
    pb_status st;
    uint8_t *buf = NULL;
    size_t n;

    *out = NULL;
    *outlen = 0;
    envoy__service__discovery__v3__discovery_request__init(&pr);
    pr.version_info = enc_str(r->version_info);
    pr.response_nonce = enc_str(r->nonce);
    pr.type_url = enc_str(r->type_url);
    if (r->node_id != NULL || r->node_cluster != NULL) {
        envoy__config__core__v3__node__init(&node);
        node.id = enc_str(r->node_id);
        node.cluster = enc_str(r->node_cluster);
        pr.node = &node;
    }
    pr.n_resource_names = r->n_names;
    pr.resource_names = r->resource_names;
    if (r->has_error) {
        google__rpc__status__init(&st);
        st.code = r->error_code;
        st.message = enc_str(r->error_message);
        pr.error_detail = &st;
    }
    n = envoy__service__discovery__v3__discovery_request__get_packed_size(&pr);
    buf = malloc(n + 1);
    if (buf == NULL) {
        return -1;
    }
    envoy__service__discovery__v3__discovery_request__pack(&pr, buf);
    *out = buf;
    *outlen = n;
    return 0;
}
