#include "libzmqc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

// The Go runtime signals its threads (preemption), which can interrupt a
// blocking libzmq call: every call is retried on EINTR.

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void *zb_ctx_new(void) { return zmq_ctx_new(); }

int zb_ctx_term(void *ctx) {
	int rc;
	while ((rc = zmq_ctx_term(ctx)) != 0 && errno == EINTR) {
	}
	return rc;
}

void *zb_socket(void *ctx, int type) {
	void *s = zmq_socket(ctx, type);
	if (s == NULL) {
		return NULL;
	}
	int hwm = 1000; // libzmq's default, set as the other implementations'
	zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
	zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
	return s;
}

int zb_heartbeat(void *sock, int ivl_ms, int timeout_ms) {
	if (zmq_setsockopt(sock, ZMQ_HEARTBEAT_IVL, &ivl_ms, sizeof ivl_ms) != 0) {
		return -1;
	}
	return zmq_setsockopt(sock, ZMQ_HEARTBEAT_TIMEOUT, &timeout_ms, sizeof timeout_ms);
}

int zb_close(void *sock) { return zmq_close(sock); }

int zb_bind(void *sock, const char *ep, char *out, size_t outlen) {
	if (zmq_bind(sock, ep) != 0) {
		return -1;
	}
	return zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, out, &outlen);
}

int zb_connect(void *sock, const char *ep) { return zmq_connect(sock, ep); }

static int send_buf(void *sock, const void *buf, size_t len) {
	int rc;
	while ((rc = zmq_send(sock, buf, len, 0)) < 0 && errno == EINTR) {
	}
	return rc < 0 ? -1 : 0;
}

static int recv_msg(void *sock, zmq_msg_t *m) {
	int rc;
	while ((rc = zmq_msg_recv(m, sock, 0)) < 0 && errno == EINTR) {
	}
	return rc < 0 ? -1 : 0;
}

int zb_send_for(void *sock, int size, int64_t duration_ns, uint64_t count) {
	char *body = malloc(size);
	for (int i = 0; i < size; i++) {
		body[i] = 'a' + i % 26;
	}
	int64_t deadline = now_ns() + duration_ns;
	uint64_t sent = 0;
	for (;;) {
		uint64_t batch = 256;
		if (count > 0 && count - sent < batch) {
			batch = count - sent;
		}
		for (uint64_t i = 0; i < batch; i++) {
			if (send_buf(sock, body, size) != 0) {
				free(body);
				return -1;
			}
			sent++;
		}
		if ((count > 0 && sent >= count) || (count == 0 && now_ns() > deadline)) {
			break;
		}
	}
	free(body);
	unsigned char end[11];
	for (int i = 0; i < 8; i++) {
		end[i] = (unsigned char)(sent >> (56 - 8 * i));
	}
	memcpy(end + 8, "END", 3);
	return send_buf(sock, end, sizeof end);
}

// zb_recv_until_end returns -2 on a message that is neither the size nor the
// end marker, -3 if the count in the end marker differs from the count received.
int zb_recv_until_end(void *sock, int size, uint64_t *n, double *secs) {
	zmq_msg_t m;
	zmq_msg_init(&m);
	int rc = 0;
	if (recv_msg(sock, &m) != 0) {
		rc = -1;
		goto out;
	}
	int64_t start = now_ns();
	if ((int)zmq_msg_size(&m) != size) {
		rc = -2;
		goto out;
	}
	*n = 1;
	for (;;) {
		if (recv_msg(sock, &m) != 0) {
			rc = -1;
			goto out;
		}
		size_t len = zmq_msg_size(&m);
		if ((int)len == size) {
			(*n)++;
			continue;
		}
		*secs = (double)(now_ns() - start) / 1e9;
		const unsigned char *d = zmq_msg_data(&m);
		if (len != 11 || memcmp(d + 8, "END", 3) != 0) {
			rc = -2;
			goto out;
		}
		uint64_t sent = 0;
		for (int i = 0; i < 8; i++) {
			sent = sent << 8 | d[i];
		}
		if (sent != *n) {
			rc = -3;
		}
		goto out;
	}
out:
	zmq_msg_close(&m);
	return rc;
}

int zb_echo(void *sock) {
	zmq_msg_t m;
	zmq_msg_init(&m);
	int rc = 0;
	for (;;) {
		if (recv_msg(sock, &m) != 0) {
			rc = -1;
			break;
		}
		if (zmq_msg_size(&m) == 4 && memcmp(zmq_msg_data(&m), "STOP", 4) == 0) {
			break; // not answered: the requester has gone
		}
		if (send_buf(sock, zmq_msg_data(&m), zmq_msg_size(&m)) != 0) {
			rc = -1;
			break;
		}
	}
	zmq_msg_close(&m);
	return rc;
}

int zb_round_trips(void *sock, int size, int64_t duration_ns, uint64_t count, uint64_t *n, double *secs) {
	char *body = malloc(size);
	for (int i = 0; i < size; i++) {
		body[i] = 'a' + i % 26;
	}
	zmq_msg_t m;
	zmq_msg_init(&m);
	int rc = 0;
	// The first round trip waits for the connection; it is not counted.
	if (send_buf(sock, body, size) != 0 || recv_msg(sock, &m) != 0) {
		rc = -1;
		goto out;
	}
	int64_t start = now_ns();
	*n = 0;
	for (;;) {
		if (send_buf(sock, body, size) != 0 || recv_msg(sock, &m) != 0) {
			rc = -1;
			goto out;
		}
		if ((int)zmq_msg_size(&m) != size) {
			rc = -2;
			goto out;
		}
		(*n)++;
		int64_t t = now_ns();
		if ((count > 0 && *n >= count) || (count == 0 && t - start >= duration_ns)) {
			*secs = (double)(t - start) / 1e9;
			break;
		}
	}
	rc = send_buf(sock, "STOP", 4);
out:
	zmq_msg_close(&m);
	free(body);
	return rc;
}
