/*
 * The C io_uring limit of bench/loop/run.py: a single-threaded TCP echo server
 * written the way liburing is meant to be used for this.
 *
 *   cc -O2 -o echo_uring echo_uring.c -luring
 *   echo_uring [PORT [FIRST]] (PORT 0, the default: any free port; FIRST: the
 *                              first set of setup flags to try, 0..2 below)
 *
 * Listens on 127.0.0.1:PORT and prints "READY <port> <setup flags>" on stdout.
 * One ring (IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN where the kernel has
 * them, else COOP_TASKRUN, else none), one multishot accept, one multishot
 * recv per connection selecting from a provided-buffer ring (NBUFS buffers of
 * BUF_SIZE bytes, registered with io_uring_register_buf_ring; see below). A received
 * buffer is queued on its connection and sent back from the same memory (one
 * send in flight per connection, so the stream keeps its order; a short send
 * is resubmitted for the rest), then given back to the buffer ring. Each turn
 * of the loop is one io_uring_submit_and_wait(ring, 1), then every CQE ready.
 * A recv that ran out of buffers (-ENOBUFS) is re-armed once buffers return.
 * EOF or an error: the connection is closed when its last op has completed.
 * Runs until killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * 128 buffers of 64 KiB (-DNBUFS=, a power of two, and -DBUF_SIZE= to try others).
 * The ring hands buffers out in order, so every one of them cycles through the
 * cache: measured here at 50 x 64 KiB, 1024 buffers (64 MiB) cost 22-26 us of
 * server CPU per round trip against 16-18 us with 128 (8 MiB), and 256 x 16 KiB
 * was no better than 1024 x 64 KiB. At 500 x 64 B, 128 is as fast as 1024
 * (recvs that find none wait for -ENOBUFS re-arming); 64 is not.
 */
#ifndef NBUFS
#define NBUFS 128
#endif
#ifndef BUF_SIZE
#define BUF_SIZE 65536
#endif
#define BGID 1

enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };

struct conn {
	int fd;
	int recv_armed;   /* the multishot recv is live */
	int send_busy;    /* a send is in flight */
	int closing;      /* EOF or error seen: close once idle */
	int starved;      /* on the list of recvs to re-arm when buffers return */
	int head, tail;   /* queue of received buffers to send back (bids), -1: empty */
	unsigned at;      /* bytes of the head buffer already sent */
	struct conn *next_starved;
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static unsigned char *bufs;
static int next_bid[NBUFS];
static unsigned buf_len[NBUFS];
static int returned; /* buffers added to the buffer ring this turn */
static struct conn *starved_list;
static int lfd;

static void die(const char *what, int err)
{
	fprintf(stderr, "echo_uring: %s: %s\n", what, strerror(err));
	exit(1);
}

static struct io_uring_sqe *sqe_get(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	while (!sqe) {
		int r = io_uring_submit(&ring);
		if (r < 0 && r != -EBUSY && r != -EAGAIN)
			die("io_uring_submit", -r);
		sqe = io_uring_get_sqe(&ring);
	}
	return sqe;
}

static void *tag(void *p, int op) { return (void *)((uintptr_t)p | (uintptr_t)op); }

static void arm_accept(void)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, tag(NULL, OP_ACCEPT));
}

static void arm_recv(struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data(sqe, tag(c, OP_RECV));
	c->recv_armed = 1;
}

static void send_head(struct conn *c)
{
	int bid = c->head;
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_send(sqe, c->fd, bufs + (size_t)bid * BUF_SIZE + c->at, buf_len[bid] - c->at,
			   MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, tag(c, OP_SEND));
	c->send_busy = 1;
}

static void give_back(int bid)
{
	io_uring_buf_ring_add(br, bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
			      io_uring_buf_ring_mask(NBUFS), returned);
	returned++;
}

static void pop_head(struct conn *c)
{
	int bid = c->head;
	c->head = next_bid[bid];
	if (c->head < 0)
		c->tail = -1;
	c->at = 0;
	give_back(bid);
}

static void maybe_close(struct conn *c)
{
	if (!c->closing || c->recv_armed || c->send_busy || c->starved)
		return;
	while (c->head >= 0)
		pop_head(c);
	close(c->fd);
	free(c);
}

static void on_recv(struct conn *c, struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->recv_armed = 0;
	if (cqe->res > 0) {
		int bid = (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		buf_len[bid] = (unsigned)cqe->res;
		next_bid[bid] = -1;
		if (c->tail >= 0)
			next_bid[c->tail] = bid;
		else
			c->head = bid;
		c->tail = bid;
		if (c->closing) {
			while (c->head >= 0)
				pop_head(c);
		} else if (!c->send_busy) {
			c->at = 0;
			send_head(c);
		}
		if (!c->recv_armed && !c->closing)
			arm_recv(c);
		return;
	}
	if (cqe->res == -ENOBUFS && !c->closing) {
		if (!c->recv_armed && !c->starved) {
			c->starved = 1;
			c->next_starved = starved_list;
			starved_list = c;
		}
		return;
	}
	/* 0: EOF; < 0: an error. Nothing more is read; queued data is still sent on EOF. */
	if (cqe->res < 0)
		c->closing = 1;
	else if (c->head < 0)
		c->closing = 1;
	else
		c->closing = 2; /* EOF with sends pending: finish them, then close */
	if (c->closing == 1)
		maybe_close(c);
}

static void on_send(struct conn *c, struct io_uring_cqe *cqe)
{
	c->send_busy = 0;
	if (cqe->res < 0 || c->closing == 1) {
		c->closing = 1;
		maybe_close(c);
		return;
	}
	c->at += (unsigned)cqe->res;
	if (c->at >= buf_len[c->head])
		pop_head(c);
	if (c->head >= 0)
		send_head(c);
	else if (c->closing)
		maybe_close(c);
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 0;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket", errno);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof sa;
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1024) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0)
		die("bind/listen", errno);

	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_COOP_TASKRUN, 0};
	static const char *names[] = {"SINGLE_ISSUER|DEFER_TASKRUN", "COOP_TASKRUN", "none"};
	int r = -EINVAL, which = argc > 2 ? atoi(argv[2]) : 0;
	for (; which < 3; which++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof p);
		p.flags = tries[which] | IORING_SETUP_CQSIZE;
		p.cq_entries = 16384;
		r = io_uring_queue_init_params(1024, &ring, &p);
		if (r == 0)
			break;
	}
	if (r < 0)
		die("io_uring_queue_init_params", -r);

	size_t ring_bytes = NBUFS * sizeof(struct io_uring_buf);
	br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	bufs = mmap(NULL, (size_t)NBUFS * BUF_SIZE, PROT_READ | PROT_WRITE,
		    MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (br == MAP_FAILED || bufs == MAP_FAILED)
		die("mmap", errno);
	struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)br, .ring_entries = NBUFS, .bgid = BGID};
	r = io_uring_register_buf_ring(&ring, &reg, 0);
	if (r < 0)
		die("io_uring_register_buf_ring", -r);
	io_uring_buf_ring_init(br);
	for (int b = 0; b < NBUFS; b++)
		give_back(b);
	io_uring_buf_ring_advance(br, returned);
	returned = 0;

	arm_accept();
	printf("READY %d %s\n", ntohs(sa.sin_port), names[which]);
	fflush(stdout);

	for (;;) {
		r = io_uring_submit_and_wait(&ring, 1);
		if (r < 0 && r != -EINTR && r != -EBUSY && r != -EAGAIN)
			die("io_uring_submit_and_wait", -r);
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			seen++;
			uintptr_t ud = (uintptr_t)io_uring_cqe_get_data(cqe);
			int op = (int)(ud & 7);
			struct conn *c = (struct conn *)(ud & ~(uintptr_t)7);
			if (op == OP_ACCEPT) {
				if (cqe->res >= 0) {
					int fd = cqe->res;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					struct conn *nc = calloc(1, sizeof *nc);
					if (!nc)
						die("calloc", ENOMEM);
					nc->fd = fd;
					nc->head = nc->tail = -1;
					arm_recv(nc);
				}
				if (!(cqe->flags & IORING_CQE_F_MORE))
					arm_accept();
			} else if (op == OP_RECV) {
				on_recv(c, cqe);
			} else if (op == OP_SEND) {
				on_send(c, cqe);
			}
		}
		io_uring_cq_advance(&ring, seen);
		if (returned) {
			io_uring_buf_ring_advance(br, returned);
			returned = 0;
			while (starved_list) {
				struct conn *c = starved_list;
				starved_list = c->next_starved;
				c->starved = 0;
				if (c->closing)
					maybe_close(c);
				else
					arm_recv(c);
			}
		}
	}
}
