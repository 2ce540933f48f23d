#include "libzmqc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
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

// zb_curve makes sock a CURVE server (with secret_key) or client (with
// all three keys), the keys in Z85.
int zb_curve(void *sock, int server, const char *server_key, const char *public_key, const char *secret_key) {
	if (server) {
		if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &server, sizeof server) != 0) {
			return -1;
		}
		return zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret_key, 40);
	}
	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_key, 40) != 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, public_key, 40) != 0) {
		return -1;
	}
	return zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret_key, 40);
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

// ---- The broker case (lb/tcp/16B): the guide's lbbroker, lbworker and REQ
// clients.

int zb_ctx_shutdown(void *ctx) { return zmq_ctx_shutdown(ctx); }

// recv_frames receives one whole message into f[0..max): the number of
// frames, -1 on an error, -2 if it had more than max (all closed then).
static int recv_frames(void *sock, zmq_msg_t *f, int max) {
	zmq_msg_t extra;
	zmq_msg_init(&extra);
	int n = 0, more = 1;
	while (more) {
		zmq_msg_t *m = n < max ? &f[n] : &extra;
		if (n < max) {
			zmq_msg_init(m);
		}
		if (recv_msg(sock, m) != 0) {
			int e = errno;
			for (int i = 0; i <= n && i < max; i++) {
				zmq_msg_close(&f[i]);
			}
			zmq_msg_close(&extra);
			errno = e;
			return -1;
		}
		more = zmq_msg_more(m);
		n++;
	}
	zmq_msg_close(&extra);
	if (n > max) {
		for (int i = 0; i < max; i++) {
			zmq_msg_close(&f[i]);
		}
		return -2;
	}
	return n;
}

// send_frames sends f[0..n) as one message and closes them.
static int send_frames(void *sock, zmq_msg_t *f, int n) {
	int rc = 0, e = 0;
	for (int i = 0; i < n; i++) {
		if (rc == 0) {
			int r;
			while ((r = zmq_msg_send(&f[i], sock, i < n - 1 ? ZMQ_SNDMORE : 0)) < 0 && errno == EINTR) {
			}
			if (r < 0) {
				rc = -1;
				e = errno;
			}
		}
		zmq_msg_close(&f[i]);
	}
	errno = e;
	return rc;
}

#define ZB_MAX_IDLE 1024

// zb_lbbroker is the guide's lbbroker (ch. 3, "A Load Balancing Message
// Broker") on two bound ROUTERs: a queue of idle workers' routing ids, and
// the frontend polled only while one is idle. It writes "WORKERS n" to
// standard output once n workers have sent READY, and returns 0 when
// standard input ends (the command is done with it).
int zb_lbbroker(void *front, void *back, int workers) {
	zmq_msg_t *idle = malloc(ZB_MAX_IDLE * sizeof *idle); // a ring, least recently used first
	int head = 0, nidle = 0, ready = 0, rc = 0;
	zmq_msg_t f[5];
	for (;;) {
		zmq_pollitem_t items[3] = {
			{back, 0, ZMQ_POLLIN, 0},
			{NULL, 0, ZMQ_POLLIN, 0}, // standard input
			{front, 0, ZMQ_POLLIN, 0},
		};
		if (zmq_poll(items, nidle > 0 ? 3 : 2, -1) < 0) {
			if (errno == EINTR) {
				continue;
			}
			rc = -1;
			break;
		}
		if (items[1].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) {
			char buf[64];
			ssize_t n = read(0, buf, sizeof buf);
			if (n == 0 || (n < 0 && errno != EINTR)) {
				break;
			}
		}
		int from_front = nidle > 0 && (items[2].revents & ZMQ_POLLIN);
		if (items[0].revents & ZMQ_POLLIN) {
			// [worker, "", "READY"] or [worker, "", client, "", reply]
			int n = recv_frames(back, f, 5);
			if (n < 0) {
				if (n == -1) {
					rc = -1;
					break;
				}
			} else if ((n != 3 && n != 5) || zmq_msg_size(&f[1]) != 0 || nidle == ZB_MAX_IDLE) {
				for (int i = 0; i < n; i++) {
					zmq_msg_close(&f[i]);
				}
			} else {
				zmq_msg_t *slot = &idle[(head + nidle++) % ZB_MAX_IDLE];
				zmq_msg_init(slot);
				zmq_msg_move(slot, &f[0]);
				zmq_msg_close(&f[0]);
				zmq_msg_close(&f[1]);
				if (n == 3) {
					zmq_msg_close(&f[2]);
					if (++ready == workers) {
						dprintf(1, "WORKERS %d\n", ready);
					}
				} else if (send_frames(front, &f[2], 3) != 0) {
					rc = -1;
					break;
				}
			}
		}
		if (from_front) {
			// [client, "", request] to the least recently used idle worker
			int n = recv_frames(front, &f[2], 3);
			if (n == -1) {
				rc = -1;
				break;
			}
			if (n == 3 && zmq_msg_size(&f[3]) == 0) {
				zmq_msg_init(&f[0]);
				zmq_msg_move(&f[0], &idle[head]);
				zmq_msg_close(&idle[head]);
				head = (head + 1) % ZB_MAX_IDLE;
				nidle--;
				zmq_msg_init(&f[1]);
				if (send_frames(back, f, 5) != 0) {
					rc = -1;
					break;
				}
			} else if (n > 0) {
				for (int i = 2; i < 2 + n; i++) {
					zmq_msg_close(&f[i]);
				}
			}
		}
	}
	for (int i = 0; i < nidle; i++) {
		zmq_msg_close(&idle[(head + i) % ZB_MAX_IDLE]);
	}
	free(idle);
	return rc;
}

// zb_lb_worker is the guide's lbworker on a connected REQ socket: READY,
// then each request ([client, "", body] once the REQ has taken off the
// broker's delimiter) sent back as it came. It returns 0 when the context
// is shut down.
int zb_lb_worker(void *sock) {
	if (send_buf(sock, "READY", 5) != 0) {
		return errno == ETERM ? 0 : -1;
	}
	zmq_msg_t f[3];
	for (;;) {
		int n = recv_frames(sock, f, 3);
		if (n == -1) {
			return errno == ETERM ? 0 : -1;
		}
		if (n != 3) {
			for (int i = 0; i < n; i++) {
				zmq_msg_close(&f[i]);
			}
			return -2;
		}
		if (send_frames(sock, f, 3) != 0) {
			return errno == ETERM ? 0 : -1;
		}
	}
}

// zb_lb_client makes round trips on a connected REQ socket, one request at
// a time, taking each request's number from *next (shared with the other
// clients' threads) until it reaches total. The request is the number (8
// bytes, big-endian) then the payload; the reply must be the same. Each
// round trip's time goes to lat_ns[number]. Returns -2 on a wrong reply.
int zb_lb_client(void *sock, int size, uint64_t total, uint64_t *next, int64_t *lat_ns) {
	unsigned char *body = malloc(size);
	for (int i = 0; i < size; i++) {
		body[i] = 'a' + i % 26;
	}
	zmq_msg_t m;
	zmq_msg_init(&m);
	int rc = 0;
	for (;;) {
		uint64_t n = __atomic_fetch_add(next, 1, __ATOMIC_RELAXED);
		if (n >= total) {
			break;
		}
		for (int i = 0; i < 8; i++) {
			body[i] = (unsigned char)(n >> (56 - 8 * i));
		}
		int64_t t0 = now_ns();
		if (send_buf(sock, body, size) != 0 || recv_msg(sock, &m) != 0) {
			rc = -1;
			break;
		}
		int64_t t1 = now_ns();
		if (zmq_msg_more(&m) || (int)zmq_msg_size(&m) != size || memcmp(zmq_msg_data(&m), body, size) != 0) {
			rc = -2;
			break;
		}
		lat_ns[n] = t1 - t0;
	}
	zmq_msg_close(&m);
	free(body);
	return rc;
}
