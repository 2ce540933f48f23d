// The libzmq loops of the "libzmq-c" implementation: the whole send, receive
// or round-trip loop runs in C, one cgo call per run, so it measures libzmq
// without any binding's cost per message (as libzmq's own perf tools do).
// The broker case's broker, workers and clients are C loops too, one cgo
// call per socket per run.
#include <stddef.h>
#include <stdint.h>

void *zb_ctx_new(void);
int zb_ctx_term(void *ctx);
void *zb_socket(void *ctx, int type);
int zb_heartbeat(void *sock, int ivl_ms, int timeout_ms);
int zb_curve(void *sock, int server, const char *server_key, const char *public_key, const char *secret_key);
int zb_close(void *sock);
int zb_bind(void *sock, const char *ep, char *out, size_t outlen);
int zb_connect(void *sock, const char *ep);
int zb_send_for(void *sock, int size, int64_t duration_ns, uint64_t count);
int zb_recv_until_end(void *sock, int size, uint64_t *n, double *secs);
int zb_echo(void *sock);
int zb_round_trips(void *sock, int size, int64_t duration_ns, uint64_t count, uint64_t *n, double *secs);
int zb_ctx_shutdown(void *ctx);
int zb_lbbroker(void *front, void *back, int workers);
int zb_lb_worker(void *sock);
int zb_lb_client(void *sock, int size, uint64_t total, uint64_t *next, int64_t *lat_ns);
