/*
 * The C epoll limit of bench/loop/run.py: a single-threaded TCP echo server.
 *
 *   cc -O2 -o echo_epoll echo_epoll.c
 *   echo_epoll [PORT]        (default 0: any free port)
 *
 * Listens on 127.0.0.1:PORT and prints "READY <port>" on stdout. One epoll set,
 * level-triggered: the listening socket accepts with accept4 until EAGAIN;
 * a readable connection is read once into a 64 KiB buffer and written back at
 * once; what the socket does not take is kept and sent on EPOLLOUT, and the
 * connection is not read again until it has gone. EOF from the client: the
 * connection is closed. Runs until killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 65536

struct conn {
	int fd;
	size_t pending; /* bytes of buf not yet written */
	size_t at;      /* where they start */
	unsigned char buf[BUF];
};

static int epfd;

static void die(const char *what)
{
	fprintf(stderr, "echo_epoll: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void drop(struct conn *c)
{
	close(c->fd); /* also removes it from the epoll set */
	free(c);
}

/* Writes what is pending; 0 when it has all gone, 1 when some is left, -1 on error. */
static int flush(struct conn *c)
{
	while (c->pending) {
		ssize_t n = send(c->fd, c->buf + c->at, c->pending, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 1 : -1;
		}
		c->at += (size_t)n;
		c->pending -= (size_t)n;
	}
	return 0;
}

static void watch(struct conn *c, unsigned events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl(MOD)");
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 0;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof sa;
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1024) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0)
		die("bind/listen");
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1");
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0)
		die("epoll_ctl(ADD)");
	printf("READY %d\n", ntohs(sa.sin_port));
	fflush(stdout);

	struct epoll_event evs[512];
	for (;;) {
		int n = epoll_wait(epfd, evs, 512, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c) {
				for (;;) {
					int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (fd < 0) {
						if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
							break;
						die("accept4");
					}
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					struct conn *nc = malloc(sizeof *nc);
					if (!nc)
						die("malloc");
					nc->fd = fd;
					nc->pending = 0;
					struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
					if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
						die("epoll_ctl(ADD)");
				}
				continue;
			}
			if (c->pending) { /* EPOLLOUT (or an error) while a write was pending */
				int r = flush(c);
				if (r < 0)
					drop(c);
				else if (r == 0)
					watch(c, EPOLLIN);
				continue;
			}
			ssize_t got = recv(c->fd, c->buf, BUF, 0);
			if (got < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (got <= 0) {
				drop(c);
				continue;
			}
			c->at = 0;
			c->pending = (size_t)got;
			int r = flush(c);
			if (r < 0)
				drop(c);
			else if (r > 0)
				watch(c, EPOLLOUT);
		}
	}
}
