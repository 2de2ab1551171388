/*
 * The C reference for bench/suite.py: the same workloads as the Python rows,
 * written the way a C program uses liburing, plus a plain pread loop.
 *
 *   cc -O2 -o uring_bench uring_bench.c -luring
 *
 *   uring_bench nop   --batch B [--seconds T]
 *   uring_bench read  --file F --offsets O --bs BS --depth D [--direct] [--seconds T]
 *   uring_bench pread --file F --offsets O --bs BS [--direct] [--seconds T]
 *
 * nop:   queue B NOPs, io_uring_submit_and_wait(B), reap B CQEs; repeat.
 * read:  keep D reads of BS bytes in flight (io_uring_prep_read into D buffers
 *        of one page-aligned block); each io_uring_submit_and_wait(1) submits
 *        the refills and waits for one completion, then every ready CQE is
 *        reaped and its slot refilled with the next offset.
 * pread: pread(2) of BS bytes at each offset in turn.
 *
 * OFFSETS is a file of native int64 byte offsets (the Python side writes the
 * same array its own rows use); they are used in order, wrapping around.
 * Each mode issues work for T seconds (default 0.3), then drains, and prints
 * one JSON object: {"mode", "ops", "seconds", "ops_per_s", ...}.
 * Any failed or short operation exits with status 1 and a message on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "uring_bench: %s: %s\n", what, strerror(err));
	exit(1);
}

struct opts {
	const char *mode;
	const char *file;
	const char *offsets;
	unsigned batch;
	unsigned depth;
	unsigned bs;
	int direct;
	double seconds;
};

static int64_t *load_offsets(const char *path, size_t *count)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	int64_t *v;

	if (!f)
		die(path, errno);
	if (fstat(fileno(f), &st) < 0)
		die(path, errno);
	*count = (size_t)st.st_size / sizeof(int64_t);
	if (*count == 0) {
		fprintf(stderr, "uring_bench: %s: no offsets\n", path);
		exit(1);
	}
	v = malloc(*count * sizeof(int64_t));
	if (!v || fread(v, sizeof(int64_t), *count, f) != *count)
		die(path, errno ? errno : EIO);
	fclose(f);
	return v;
}

static void *alloc_buffers(size_t size)
{
	void *p = NULL;
	int ret = posix_memalign(&p, 4096, size);

	if (ret)
		die("posix_memalign", ret);
	memset(p, 0, size); /* fault the pages in before timing */
	return p;
}

static void report(const struct opts *o, unsigned long long ops, double secs)
{
	printf("{\"mode\": \"%s\", \"batch\": %u, \"depth\": %u, \"bs\": %u, "
	       "\"direct\": %s, \"ops\": %llu, \"seconds\": %.9f, \"ops_per_s\": %.3f}\n",
	       o->mode, o->batch, o->depth, o->bs, o->direct ? "true" : "false", ops, secs,
	       secs > 0 ? (double)ops / secs : 0.0);
}

static void run_nop(const struct opts *o)
{
	struct io_uring ring;
	unsigned long long ops = 0;
	unsigned iter = 0;
	double start, deadline, end;
	int ret = io_uring_queue_init(o->batch, &ring, 0);

	if (ret < 0)
		die("io_uring_queue_init", -ret);
	start = now();
	deadline = start + o->seconds;
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0, i;

		for (i = 0; i < o->batch; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

			io_uring_prep_nop(sqe);
			sqe->user_data = i;
		}
		ret = io_uring_submit_and_wait(&ring, o->batch);
		if (ret < 0)
			die("io_uring_submit_and_wait", -ret);
		while (seen < o->batch) {
			io_uring_for_each_cqe(&ring, head, cqe) {
				if (cqe->res < 0)
					die("nop", -cqe->res);
				seen++;
			}
			io_uring_cq_advance(&ring, seen);
			if (seen < o->batch) {
				/* Not expected for NOPs: wait for the rest. */
				ret = io_uring_wait_cqe_nr(&ring, &cqe, o->batch - seen);
				if (ret < 0)
					die("io_uring_wait_cqe_nr", -ret);
			}
		}
		ops += o->batch;
		if ((++iter & 63) == 0 || o->batch >= 64) {
			if (now() >= deadline)
				break;
		}
	}
	end = now();
	io_uring_queue_exit(&ring);
	report(o, ops, end - start);
}

static int open_file(const struct opts *o)
{
	int fd = open(o->file, O_RDONLY | (o->direct ? O_DIRECT : 0));

	if (fd < 0)
		die(o->file, errno);
	return fd;
}

static void run_read(const struct opts *o)
{
	struct io_uring ring;
	size_t noff, k = 0;
	int64_t *offs = load_offsets(o->offsets, &noff);
	int fd = open_file(o);
	char *bufs = alloc_buffers((size_t)o->depth * o->bs);
	unsigned long long ops = 0;
	unsigned inflight = 0, i;
	int stop = 0, ret;
	double start, deadline, end;

	ret = io_uring_queue_init(o->depth, &ring, 0);
	if (ret < 0)
		die("io_uring_queue_init", -ret);
	start = now();
	deadline = start + o->seconds;
	for (i = 0; i < o->depth; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		io_uring_prep_read(sqe, fd, bufs + (size_t)i * o->bs, o->bs, (uint64_t)offs[k]);
		sqe->user_data = i;
		k = (k + 1 == noff) ? 0 : k + 1;
		inflight++;
	}
	while (inflight) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;

		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0 && ret != -EINTR)
			die("io_uring_submit_and_wait", -ret);
		io_uring_for_each_cqe(&ring, head, cqe) {
			unsigned slot = (unsigned)cqe->user_data;

			if (cqe->res != (int)o->bs) {
				if (cqe->res < 0)
					die("read", -cqe->res);
				fprintf(stderr, "uring_bench: short read %d\n", cqe->res);
				exit(1);
			}
			seen++;
			ops++;
			inflight--;
			if (!stop) {
				struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

				io_uring_prep_read(sqe, fd, bufs + (size_t)slot * o->bs, o->bs,
						   (uint64_t)offs[k]);
				sqe->user_data = slot;
				k = (k + 1 == noff) ? 0 : k + 1;
				inflight++;
			}
		}
		io_uring_cq_advance(&ring, seen);
		if (!stop && now() >= deadline)
			stop = 1;
	}
	end = now();
	io_uring_queue_exit(&ring);
	close(fd);
	free(bufs);
	free(offs);
	report(o, ops, end - start);
}

static void run_pread(const struct opts *o)
{
	size_t noff, k = 0;
	int64_t *offs = load_offsets(o->offsets, &noff);
	int fd = open_file(o);
	char *buf = alloc_buffers(o->bs);
	unsigned long long ops = 0;
	double start, deadline, end;

	start = now();
	deadline = start + o->seconds;
	for (;;) {
		ssize_t n = pread(fd, buf, o->bs, (off_t)offs[k]);

		if (n != (ssize_t)o->bs) {
			if (n < 0)
				die("pread", errno);
			fprintf(stderr, "uring_bench: short pread %zd\n", n);
			exit(1);
		}
		k = (k + 1 == noff) ? 0 : k + 1;
		if ((++ops & 63) == 0 && now() >= deadline)
			break;
	}
	end = now();
	close(fd);
	free(buf);
	free(offs);
	report(o, ops, end - start);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: uring_bench nop --batch B [--seconds T]\n"
		"       uring_bench read --file F --offsets O --bs BS --depth D [--direct] [--seconds T]\n"
		"       uring_bench pread --file F --offsets O --bs BS [--direct] [--seconds T]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = { .batch = 1, .depth = 1, .bs = 4096, .seconds = 0.3 };
	int i;

	if (argc < 2)
		usage();
	o.mode = argv[1];
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--direct")) {
			o.direct = 1;
			continue;
		}
		if (!v)
			usage();
		if (!strcmp(a, "--file"))
			o.file = v;
		else if (!strcmp(a, "--offsets"))
			o.offsets = v;
		else if (!strcmp(a, "--batch"))
			o.batch = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--depth"))
			o.depth = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--bs"))
			o.bs = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--seconds"))
			o.seconds = strtod(v, NULL);
		else
			usage();
		i++;
	}
	if (o.batch == 0 || o.depth == 0 || o.bs == 0 || o.seconds <= 0)
		usage();
	if (!strcmp(o.mode, "nop"))
		run_nop(&o);
	else if (!strcmp(o.mode, "read") || !strcmp(o.mode, "pread")) {
		if (!o.file || !o.offsets)
			usage();
		if (!strcmp(o.mode, "read"))
			run_read(&o);
		else
			run_pread(&o);
	} else
		usage();
	return 0;
}
