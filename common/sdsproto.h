#ifndef SC_SDSPROTO_H
#define SC_SDSPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Our typed view of the few Envoy xDS v3 messages SDS needs
 * (envoy.service.discovery.v3.DiscoveryRequest / DiscoveryResponse carrying
 * envoy.extensions.transport_sockets.tls.v3.Secret resources).  The wire
 * format comes from protobuf-c code generated from the .proto files in proto/ at build
 * time; callers never see protobuf-c.  Unknown fields are skipped.
 * docs/sds.md describes the subset. */

#define SC_SDS_TYPE_SECRET "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
#define SC_SDS_METHOD_PATH "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets"
#define SC_SDS_RESOURCE_DEFAULT "default"
#define SC_SDS_RESOURCE_ROOTCA "ROOTCA"

/* One Secret resource.  Every string is NUL-terminated as well as counted.
 * The PEM fields come from a DataSource's inline_bytes or inline_string; a
 * DataSource.filename is refused on decode (a remote push must not make us
 * read local files).  NULL (and 0) when absent. */
struct sc_sds_secret {
    char *name; /* "default", "ROOTCA", ... */
    char *cert_chain_pem; /* TlsCertificate.certificate_chain */
    size_t cert_chain_len;
    char *private_key_pem; /* TlsCertificate.private_key */
    size_t private_key_len;
    char *trusted_ca_pem; /* CertificateValidationContext.trusted_ca */
    size_t trusted_ca_len;
    char *crl_pem; /* CertificateValidationContext.crl (with trusted_ca) */
    size_t crl_len;
};

/* DiscoveryResponse.  Decoding requires each resource's Any.type_url to be
 * SC_SDS_TYPE_SECRET (anything else is an error); encoding writes that
 * type_url, and the PEMs as DataSource.inline_bytes.  NULL strings are
 * written as absent. */
struct sc_sds_response {
    char *version_info;
    char *nonce;
    char *type_url;
    struct sc_sds_secret *secrets;
    size_t n_secrets;
};

/* DiscoveryRequest.  has_error marks an error_detail (a NACK) with
 * error_code (google.rpc.Code) and error_message. */
struct sc_sds_request {
    char *version_info;
    char *nonce; /* response_nonce */
    char *type_url;
    char *node_id; /* node.id */
    char *node_cluster; /* node.cluster */
    char **resource_names;
    size_t n_names;
    int has_error;
    int error_code;
    char *error_message;
};

/* Decode len bytes (one gRPC message, without the framing prefix) into
 * *out, which the caller provides (its old contents are ignored).  Returns 0,
 * or -1 with err filled.  On -1 *out is zeroed, except that a response
 * whose protobuf parsed but whose content is refused (a filename, a wrong
 * type) keeps version_info, nonce and type_url so the caller can NACK that
 * nonce; call sc_sds_response_cleanup after a failure too (it is harmless
 * on a zeroed struct).  Decoded structs own all their
 * strings; free them with the matching _cleanup.  After a successful decode
 * every plain string field (version_info, nonce, type_url, node_id,
 * node_cluster, error_message, names) is non-NULL ("" when absent on the
 * wire); only the PEM fields may be NULL.  A resource whose Any.type_url is
 * not SC_SDS_TYPE_SECRET, or whose DataSource is a filename or an
 * environment_variable, fails the whole decode.  The response's own
 * type_url is not checked here. */
int sc_sds_response_decode(const uint8_t *buf, size_t len, struct sc_sds_response *out,
                           struct sc_err *err);
int sc_sds_request_decode(const uint8_t *buf, size_t len, struct sc_sds_request *out,
                          struct sc_err *err);

/* Encode *r (borrowed) into a new buffer *out of *outlen bytes (unframed;
 * the caller frees *out with free()).  Returns 0 or -1 (out of memory). */
int sc_sds_response_encode(const struct sc_sds_response *r, uint8_t **out, size_t *outlen);
int sc_sds_request_encode(const struct sc_sds_request *r, uint8_t **out, size_t *outlen);

/* Free everything the struct owns and zero it.  Accept NULL and zeroed
 * structs.  Use them for structs the caller filled by hand with malloc'd
 * strings too. */
void sc_sds_response_cleanup(struct sc_sds_response *r);
void sc_sds_request_cleanup(struct sc_sds_request *r);
void sc_sds_secret_cleanup(struct sc_sds_secret *s);

#endif
