/*
 * The echo load generator of bench/loop/run.py: one process, one epoll set,
 * N TCP connections to 127.0.0.1:PORT, each in a ping-pong: send S bytes, wait
 * until all S have come back (checking every byte), send the next S.
 *
 *   cc -O2 -o loadgen loadgen.c
 *   loadgen --port P --conns N --size S [--warmup W] [--seconds T]
 *           [--server-pid PID] [--stall T] [--deadline T]
 *
 * Timeline: connect all N (blocking connects, then O_NONBLOCK), run W seconds
 * of warm-up (default 0.3), then the measured window of T seconds (default
 * 1.0), whose round trips are counted and around which the server's
 * utime+stime are read from /proc/PID/stat (clock ticks). After the window no
 * new message is started; the ones in flight are awaited (and checked), then
 * every connection is shut down for writing and the server's EOF awaited, so
 * that the server sees an orderly close, never a reset.
 *
 * Every message is a slice of one random block, at an offset that depends on
 * the connection and on the message's number: a byte echoed to the wrong
 * connection, twice, late, or out of order fails the comparison. Everything
 * else is an error too: EOF or a reset before the end, more bytes back than
 * were sent, no progress on any connection for --stall seconds (default 5;
 * a hang), or the whole run exceeding --deadline seconds (default
 * W + T + 30). On an error it prints a message on stderr and exits with
 * status 1 (2 for bad arguments); otherwise it prints one JSON object on
 * stdout: {"round_trips", "seconds", "server_ticks", "clk_tck", ...}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define MAX_SIZE (1 << 20)
#define OFFSETS 4093 /* a prime: message offsets into the pattern cycle slowly */

struct conn {
	int fd;
	int id;
	uint64_t msg;     /* number of the message in flight */
	size_t off;       /* its offset in the pattern */
	size_t sent;      /* bytes of it sent */
	size_t recvd;     /* bytes of it received back (and checked) */
	int active;       /* a message is in flight */
	int want_out;     /* EPOLLOUT is registered */
	int eof;          /* the server's EOF seen (after our shutdown) */
	uint64_t done;    /* round trips completed in the measured window */
};

static unsigned char *pattern;
static size_t size;
static int epfd;
static long server_pid = -1;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "loadgen: deadline exceeded (the run took too long)\n";
	(void)!write(2, msg, sizeof msg - 1);
	_exit(1);
}

/* utime + stime of PID in clock ticks, or -1. */
static long long proc_ticks(long pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* the command name may contain anything: fields count from the last ')' */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	p += 2; /* field 3, the state */
	unsigned long long ut = 0, st = 0;
	/* fields 3..13 skipped, 14 utime, 15 stime */
	if (sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (long long)(ut + st);
}

static void set_events(struct conn *c, int out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl(MOD)");
	c->want_out = out;
}

static void start_message(struct conn *c)
{
	c->off = ((uint64_t)c->id * 131u + c->msg * 17u) % OFFSETS;
	c->sent = 0;
	c->recvd = 0;
	c->active = 1;
}

static void try_send(struct conn *c)
{
	while (c->sent < size) {
		ssize_t n = send(c->fd, pattern + c->off + c->sent, size - c->sent, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (!c->want_out)
					set_events(c, 1);
				return;
			}
			fprintf(stderr, "loadgen: send on connection %d (message %llu): %s\n", c->id,
				(unsigned long long)c->msg, strerror(errno));
			exit(1);
		}
		c->sent += (size_t)n;
	}
	if (c->want_out)
		set_events(c, 0);
}

static void mismatch(struct conn *c, const unsigned char *got, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char want = pattern[c->off + c->recvd + i];
		if (got[i] != want) {
			fprintf(stderr,
				"loadgen: wrong echo on connection %d, message %llu, byte %zu of %zu: "
				"got 0x%02x, expected 0x%02x\n",
				c->id, (unsigned long long)c->msg, c->recvd + i, size, got[i], want);
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	int port = 0, conns = 0;
	double warmup = 0.3, seconds = 1.0, stall = 5.0, deadline = 0;
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--port"))
			port = atoi(v);
		else if (!strcmp(k, "--conns"))
			conns = atoi(v);
		else if (!strcmp(k, "--size"))
			size = (size_t)atol(v);
		else if (!strcmp(k, "--warmup"))
			warmup = atof(v);
		else if (!strcmp(k, "--seconds"))
			seconds = atof(v);
		else if (!strcmp(k, "--server-pid"))
			server_pid = atol(v);
		else if (!strcmp(k, "--stall"))
			stall = atof(v);
		else if (!strcmp(k, "--deadline"))
			deadline = atof(v);
		else {
			fprintf(stderr, "loadgen: unknown option %s\n", k);
			return 2;
		}
	}
	if (port <= 0 || conns <= 0 || size == 0 || size > MAX_SIZE || seconds <= 0) {
		fprintf(stderr, "usage: loadgen --port P --conns N --size S (1..%d) [--warmup W] "
				"[--seconds T] [--server-pid PID] [--stall T] [--deadline T]\n", MAX_SIZE);
		return 2;
	}
	if (deadline <= 0)
		deadline = warmup + seconds + 30;
	signal(SIGALRM, on_alarm);
	alarm((unsigned)deadline + 1);

	pattern = malloc(size + OFFSETS);
	if (!pattern)
		die("malloc");
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < size + OFFSETS; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
		pattern[i] = (unsigned char)(x >> 24);
	}
	unsigned char *rbuf = malloc(MAX_SIZE);
	struct conn *cs = calloc((size_t)conns, sizeof *cs);
	struct epoll_event *evs = calloc((size_t)conns, sizeof *evs);
	if (!rbuf || !cs || !evs)
		die("malloc");
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1");

	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < conns; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket");
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
			fprintf(stderr, "loadgen: connect #%d to port %d: %s\n", i, port, strerror(errno));
			return 1;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		cs[i].fd = fd;
		cs[i].id = i;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			die("epoll_ctl(ADD)");
	}

	double t_start = now();
	double t_measure = t_start + warmup, t_end = t_measure + seconds;
	double t_last_progress = t_start;
	int phase = 0; /* 0 warm-up, 1 measured, 2 draining, 3 closing */
	long long ticks0 = -1, ticks1 = -1;
	double m0 = 0, m1 = 0;
	uint64_t total = 0, in_window = 0, warm_rt = 0;
	int active = 0, open_conns = conns;

	for (int i = 0; i < conns; i++) {
		start_message(&cs[i]);
		active++;
		try_send(&cs[i]);
	}
	while (open_conns > 0) {
		double t = now();
		if (phase == 0 && t >= t_measure) {
			phase = 1;
			ticks0 = server_pid > 0 ? proc_ticks(server_pid) : 0;
			m0 = now();
			warm_rt = total;
		}
		if (phase == 1 && t >= t_end) {
			ticks1 = server_pid > 0 ? proc_ticks(server_pid) : 0;
			m1 = now();
			in_window = total - warm_rt;
			phase = 2;
		}
		if (phase == 2 && active == 0) {
			phase = 3;
			for (int i = 0; i < conns; i++)
				if (shutdown(cs[i].fd, SHUT_WR) < 0)
					die("shutdown");
			t_last_progress = t;
		}
		if (t - t_last_progress > stall) {
			int waiting = 0, first = -1;
			for (int i = 0; i < conns; i++)
				if (phase < 3 ? cs[i].active : !cs[i].eof) {
					waiting++;
					if (first < 0)
						first = i;
				}
			if (phase < 3)
				fprintf(stderr,
					"loadgen: stalled: no echo for %.1f s; %d of %d connections waiting "
					"(first: #%d, message %llu, sent %zu of %zu, got back %zu); %llu round "
					"trips done\n",
					stall, waiting, conns, first, (unsigned long long)cs[first].msg,
					cs[first].sent, size, cs[first].recvd, (unsigned long long)total);
			else
				fprintf(stderr,
					"loadgen: stalled at close: %d of %d connections never saw the server's "
					"EOF after shutdown(SHUT_WR) within %.1f s (first: #%d)\n",
					waiting, conns, stall, first);
			return 1;
		}
		int timeout_ms = phase == 0 ? (int)((t_measure - t) * 1000) + 1
			: phase == 1 ? (int)((t_end - t) * 1000) + 1 : 100;
		if (timeout_ms > 100)
			timeout_ms = 100;
		int n = epoll_wait(epfd, evs, conns, timeout_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int e = 0; e < n; e++) {
			struct conn *c = evs[e].data.ptr;
			if (evs[e].events & EPOLLOUT)
				try_send(c);
			if (!(evs[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
				continue;
			ssize_t r = recv(c->fd, rbuf, MAX_SIZE, 0);
			if (r < 0) {
				if (errno == EAGAIN || errno == EINTR)
					continue;
				fprintf(stderr, "loadgen: recv on connection %d (message %llu, %zu of %zu back): %s\n",
					c->id, (unsigned long long)c->msg, c->recvd, size, strerror(errno));
				return 1;
			}
			if (r == 0) {
				if (phase == 3 && !c->active) {
					c->eof = 1;
					open_conns--;
					t_last_progress = now();
					epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
					continue;
				}
				fprintf(stderr, "loadgen: the server closed connection %d early (message %llu, "
						"sent %zu of %zu, got back %zu)\n",
					c->id, (unsigned long long)c->msg, c->sent, size, c->recvd);
				return 1;
			}
			if (!c->active || c->recvd + (size_t)r > c->sent) {
				fprintf(stderr, "loadgen: connection %d got %zd bytes more than it sent "
						"(message %llu, sent %zu, back %zu, in flight %d)\n",
					c->id, (ssize_t)(c->recvd + (size_t)r - c->sent), (unsigned long long)c->msg,
					c->sent, c->recvd, c->active);
				return 1;
			}
			if (memcmp(rbuf, pattern + c->off + c->recvd, (size_t)r) != 0)
				mismatch(c, rbuf, (size_t)r);
			c->recvd += (size_t)r;
			t_last_progress = now();
			if (c->recvd < size)
				continue;
			total++;
			if (phase == 1)
				c->done++;
			c->msg++;
			if (phase <= 1) {
				start_message(c);
				try_send(c);
			} else {
				c->active = 0;
				active--;
			}
		}
	}
	for (int i = 0; i < conns; i++)
		close(cs[i].fd);

	uint64_t mn = UINT64_MAX, mx = 0;
	for (int i = 0; i < conns; i++) {
		if (cs[i].done < mn)
			mn = cs[i].done;
		if (cs[i].done > mx)
			mx = cs[i].done;
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double client_cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
		(double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
	printf("{\"round_trips\": %llu, \"seconds\": %.6f, \"server_ticks\": %lld, \"clk_tck\": %ld, "
	       "\"conns\": %d, \"size\": %zu, \"total_round_trips\": %llu, \"min_conn_round_trips\": %llu, "
	       "\"max_conn_round_trips\": %llu, \"client_cpu_s\": %.4f}\n",
	       (unsigned long long)in_window, m1 - m0,
	       server_pid > 0 && ticks0 >= 0 && ticks1 >= 0 ? ticks1 - ticks0 : -1LL,
	       sysconf(_SC_CLK_TCK), conns, size, (unsigned long long)total,
	       (unsigned long long)mn, (unsigned long long)mx, client_cpu);
	return 0;
}
