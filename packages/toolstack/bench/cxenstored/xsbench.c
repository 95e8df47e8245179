/*
 * xsbench: a xenstore load generator speaking xs_wire (struct xsd_sockmsg, <xen/io/xs_wire.h>)
 * directly over a xenstored Unix socket, so the client costs a few syscalls per request and is
 * not the bottleneck. Used by run.ts (pnpm --filter @pvkit/toolstack bench:cxenstored).
 *
 *   xsbench -s SOCKET -o setup
 *       creates the fixtures: /bench/k, /bench/dir with 100 children c000..c099.
 *   xsbench -s SOCKET -o mem [-n 10000]
 *       writes N nodes /bench/mem/dJJJ/nKK (100 per directory), 16 writes in flight.
 *   xsbench -s SOCKET -o read|write|dir|tx -c CLIENTS -d DEPTH -t SECONDS [-w WARMUP] [-p PID]
 *       CLIENTS processes (fork), each with one connection and DEPTH requests in flight
 *       (matched by req_id), issue requests back to back for SECONDS after a common start:
 *         read   XS_READ /bench/k
 *         write  XS_WRITE /bench/w/<client>-<slot> (16-byte value)
 *         dir    XS_DIRECTORY /bench/dir (100 children)
 *         tx     XS_TRANSACTION_START, XS_READ + XS_WRITE of /bench/tx/<client>-<slot> in the
 *                transaction, XS_TRANSACTION_END "T" (EAGAIN counts as a retry, not an op)
 *       Prints one line: "ops=N reqs=N secs=S cpu_ticks=T user_ticks=U sys_ticks=K clk_tck=H
 *       errors=E retries=R", where cpu_ticks is the utime+stime (/proc/PID/stat fields 14 and
 *       15) the daemon PID used between the common start and the end of the last client, U its
 *       utime and K its stime (time in the kernel on its behalf: the socket reads and writes,
 *       the wake-ups of the clients they cause, poll/epoll).
 *
 * Exit status: 0 on success, 1 on a protocol or connection error (message on stderr), 2 on bad
 * usage. Every socket read has a timeout (XSBENCH_TIMEOUT_S, default 10 s) so a hung daemon
 * fails the run instead of hanging it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xen/io/xs_wire.h>

#define HDR sizeof(struct xsd_sockmsg)
#define MAX_DEPTH 64
#define INBUF (1 << 20)
#define OUTBUF (MAX_DEPTH * (HDR + XENSTORE_PAYLOAD_MAX))

static int io_timeout_ms = 10000;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "xsbench[%d]: ", (int)getpid());
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime and stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15): 0, or -1 if unreadable. */
static int proc_cpu_ticks(int pid, long long *user, long long *sys) {
  *user = *sys = -1;
  if (pid <= 0) return -1;
  char path[64], buf[4096];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* the command name may contain spaces */
  if (!p) return -1;
  p += 2; /* field 3 (state) */
  unsigned long long utime = 0, stime = 0;
  /* fields 3..13 skipped, then 14 utime, 15 stime */
  if (sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
    return -1;
  *user = (long long)utime;
  *sys = (long long)stime;
  return 0;
}

static int connect_socket(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: %s", strerror(errno));
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(addr.sun_path)) die("socket path too long: %s", path);
  strcpy(addr.sun_path, path);
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) die("connect %s: %s", path, strerror(errno));
  return fd;
}

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write: %s", strerror(errno));
    }
    buf += w;
    len -= (size_t)w;
  }
}

/* ---- one connection with up to MAX_DEPTH requests in flight ---- */

enum op { OP_READ, OP_WRITE, OP_DIR, OP_TX };

struct slot {
  int busy;       /* a request is in flight */
  int tx_state;   /* OP_TX: 0 = START next, 1 = READ, 2 = WRITE, 3 = END */
  uint32_t tx_id; /* OP_TX: the open transaction */
  char node[64];
  char value[32];
};

struct conn {
  int fd;
  enum op op;
  int depth;
  struct slot slots[MAX_DEPTH];
  char *in;
  size_t in_len;
  char *out;
  size_t out_len;
  long long ops, reqs, retries, errors;
  unsigned counter;
};

static void queue(struct conn *c, uint32_t type, uint32_t req_id, uint32_t tx_id, const char *a, size_t alen,
                  const char *b, size_t blen) {
  struct xsd_sockmsg h = {.type = type, .req_id = req_id, .tx_id = tx_id, .len = (uint32_t)(alen + blen)};
  memcpy(c->out + c->out_len, &h, HDR);
  memcpy(c->out + c->out_len + HDR, a, alen);
  if (blen) memcpy(c->out + c->out_len + HDR + alen, b, blen);
  c->out_len += HDR + alen + blen;
  c->reqs++;
}

/* Queues slot i's next request. */
static void issue(struct conn *c, int i) {
  struct slot *s = &c->slots[i];
  s->busy = 1;
  switch (c->op) {
    case OP_READ:
      queue(c, XS_READ, (uint32_t)i, 0, "/bench/k", 9, NULL, 0);
      break;
    case OP_DIR:
      queue(c, XS_DIRECTORY, (uint32_t)i, 0, "/bench/dir", 11, NULL, 0);
      break;
    case OP_WRITE: {
      int vl = snprintf(s->value, sizeof(s->value), "value-%010u", c->counter++);
      queue(c, XS_WRITE, (uint32_t)i, 0, s->node, strlen(s->node) + 1, s->value, (size_t)vl);
      break;
    }
    case OP_TX:
      switch (s->tx_state) {
        case 0:
          queue(c, XS_TRANSACTION_START, (uint32_t)i, 0, "", 1, NULL, 0);
          break;
        case 1:
          queue(c, XS_READ, (uint32_t)i, s->tx_id, s->node, strlen(s->node) + 1, NULL, 0);
          break;
        case 2: {
          int vl = snprintf(s->value, sizeof(s->value), "value-%010u", c->counter++);
          queue(c, XS_WRITE, (uint32_t)i, s->tx_id, s->node, strlen(s->node) + 1, s->value, (size_t)vl);
          break;
        }
        case 3:
          queue(c, XS_TRANSACTION_END, (uint32_t)i, s->tx_id, "T", 2, NULL, 0);
          break;
      }
      break;
  }
}

static uint32_t expected_type(struct conn *c, struct slot *s) {
  switch (c->op) {
    case OP_READ: return XS_READ;
    case OP_DIR: return XS_DIRECTORY;
    case OP_WRITE: return XS_WRITE;
    case OP_TX:
      return s->tx_state == 0 ? XS_TRANSACTION_START : s->tx_state == 1 ? XS_READ
                                                      : s->tx_state == 2 ? XS_WRITE
                                                                         : XS_TRANSACTION_END;
  }
  return XS_INVALID;
}

/* Handles one reply; returns 1 when it completed an operation. */
static int complete(struct conn *c, const struct xsd_sockmsg *h, const char *payload) {
  if (h->req_id >= (uint32_t)c->depth || !c->slots[h->req_id].busy)
    die("reply with unexpected req_id %u (type %u)", h->req_id, h->type);
  struct slot *s = &c->slots[h->req_id];
  s->busy = 0;
  if (h->type == XS_ERROR) {
    if (c->op == OP_TX && s->tx_state == 3 && h->len >= 6 && memcmp(payload, "EAGAIN", 6) == 0) {
      c->retries++;
      s->tx_state = 0;
      return 0;
    }
    c->errors++;
    fprintf(stderr, "xsbench: error reply %.*s to type %u\n", (int)h->len, payload, expected_type(c, s));
    if (c->op == OP_TX) s->tx_state = 0;
    return 0;
  }
  if (h->type != expected_type(c, s)) die("reply type %u, expected %u", h->type, expected_type(c, s));
  if (c->op != OP_TX) {
    c->ops++;
    return 1;
  }
  switch (s->tx_state) {
    case 0: {
      char idbuf[16];
      size_t n = h->len < sizeof(idbuf) - 1 ? h->len : sizeof(idbuf) - 1;
      memcpy(idbuf, payload, n);
      idbuf[n] = 0;
      s->tx_id = (uint32_t)strtoul(idbuf, NULL, 10);
      if (s->tx_id == 0) die("TRANSACTION_START gave tx_id 0 (%.*s)", (int)h->len, payload);
      s->tx_state = 1;
      return 0;
    }
    case 1:
    case 2:
      s->tx_state++;
      return 0;
    default:
      s->tx_state = 0;
      c->ops++;
      return 1;
  }
}

static void flush_out(struct conn *c) {
  if (c->out_len) write_all(c->fd, c->out, c->out_len);
  c->out_len = 0;
}

/* Reads once (waiting up to io_timeout_ms) and handles every complete reply. With `more`,
 * each freed slot gets its next request; all of them go out in one write. */
static void pump(struct conn *c, int more) {
  struct pollfd p = {.fd = c->fd, .events = POLLIN};
  int pr;
  do pr = poll(&p, 1, io_timeout_ms);
  while (pr < 0 && errno == EINTR);
  if (pr == 0) die("no reply from xenstored within %d ms", io_timeout_ms);
  if (pr < 0) die("poll: %s", strerror(errno));
  ssize_t r = read(c->fd, c->in + c->in_len, INBUF - c->in_len);
  if (r < 0) {
    if (errno == EINTR) return;
    die("read: %s", strerror(errno));
  }
  if (r == 0) die("xenstored closed the connection");
  c->in_len += (size_t)r;
  size_t off = 0;
  while (c->in_len - off >= HDR) {
    struct xsd_sockmsg h;
    memcpy(&h, c->in + off, HDR);
    if (h.len > XENSTORE_PAYLOAD_MAX) die("reply payload of %u bytes", h.len);
    if (c->in_len - off < HDR + h.len) break;
    int id = (int)h.req_id;
    complete(c, &h, c->in + off + HDR);
    if (more) issue(c, id);
    off += HDR + h.len;
  }
  memmove(c->in, c->in + off, c->in_len - off);
  c->in_len -= off;
  flush_out(c);
}

static int in_flight(struct conn *c) {
  int n = 0;
  for (int i = 0; i < c->depth; i++) n += c->slots[i].busy;
  return n;
}

static void conn_init(struct conn *c, const char *path, enum op op, int depth, int client) {
  memset(c, 0, sizeof(*c));
  c->fd = connect_socket(path);
  c->op = op;
  c->depth = depth;
  c->in = malloc(INBUF);
  c->out = malloc(OUTBUF);
  if (!c->in || !c->out) die("out of memory");
  for (int i = 0; i < depth; i++) {
    const char *dir = op == OP_TX ? "/bench/tx" : "/bench/w";
    snprintf(c->slots[i].node, sizeof(c->slots[i].node), "%s/%d-%d", dir, client, i);
  }
}

/* Runs the load until `until` (monotonic seconds), then waits for the requests in flight. */
static void run_until(struct conn *c, double until) {
  for (int i = 0; i < c->depth; i++) issue(c, i);
  flush_out(c);
  unsigned check = 0;
  for (;;) {
    int more = 1;
    if ((++check & 7) == 0 && now_s() >= until) more = 0;
    pump(c, more);
    if (!more) break;
  }
  while (in_flight(c) > 0) pump(c, 0);
}

/* One synchronous request (setup and mem use it); returns the reply type. */
static uint32_t request(int fd, uint32_t type, const char *a, size_t alen, const char *b, size_t blen) {
  char buf[HDR + XENSTORE_PAYLOAD_MAX];
  struct xsd_sockmsg h = {.type = type, .req_id = 0, .tx_id = 0, .len = (uint32_t)(alen + blen)};
  memcpy(buf, &h, HDR);
  memcpy(buf + HDR, a, alen);
  if (blen) memcpy(buf + HDR + alen, b, blen);
  write_all(fd, buf, HDR + alen + blen);
  size_t got = 0;
  while (got < HDR) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, io_timeout_ms) <= 0) die("no reply from xenstored within %d ms", io_timeout_ms);
    ssize_t r = read(fd, buf + got, HDR - got);
    if (r <= 0) die("xenstored closed the connection");
    got += (size_t)r;
  }
  memcpy(&h, buf, HDR);
  if (h.len > XENSTORE_PAYLOAD_MAX) die("reply payload of %u bytes", h.len);
  size_t body = 0;
  while (body < h.len) {
    ssize_t r = read(fd, buf + HDR + body, h.len - body);
    if (r <= 0) die("xenstored closed the connection");
    body += (size_t)r;
  }
  if (h.type == XS_ERROR) die("request type %u on %s: error %.*s", type, a, (int)h.len, buf + HDR);
  return h.type;
}

static void do_setup(const char *path) {
  int fd = connect_socket(path);
  request(fd, XS_WRITE, "/bench/k", 9, "value", 5);
  request(fd, XS_MKDIR, "/bench/w", 9, NULL, 0);
  request(fd, XS_MKDIR, "/bench/tx", 10, NULL, 0);
  for (int i = 0; i < 100; i++) {
    char node[32];
    int n = snprintf(node, sizeof(node), "/bench/dir/c%03d", i);
    request(fd, XS_WRITE, node, (size_t)n + 1, "child", 5);
  }
  close(fd);
  printf("setup=ok\n");
}

static void do_mem(const char *path, int n) {
  struct conn c;
  conn_init(&c, path, OP_WRITE, 16, 0);
  int next = 0, done = 0;
  while (done < n) {
    for (int i = 0; i < c.depth && next < n; i++) {
      if (c.slots[i].busy) continue;
      snprintf(c.slots[i].node, sizeof(c.slots[i].node), "/bench/mem/d%03d/n%02d", next / 100, next % 100);
      c.slots[i].busy = 1;
      int vl = snprintf(c.slots[i].value, sizeof(c.slots[i].value), "node-%05d-payload", next);
      queue(&c, XS_WRITE, (uint32_t)i, 0, c.slots[i].node, strlen(c.slots[i].node) + 1, c.slots[i].value,
            (size_t)vl);
      next++;
    }
    flush_out(&c);
    long long before = c.ops;
    pump(&c, 0);
    done += (int)(c.ops - before);
    if (c.errors) die("write failed");
  }
  close(c.fd);
  printf("mem_nodes=%d\n", n);
}

struct result {
  long long ops, reqs, retries, errors;
};

static void usage(void) {
  fprintf(stderr,
          "usage: xsbench -s SOCKET -o setup|mem|read|write|dir|tx [-c CLIENTS] [-d DEPTH] [-t SECONDS]\n"
          "               [-w WARMUP_SECONDS] [-p DAEMON_PID] [-n NODES]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *sock = NULL, *opname = NULL;
  int clients = 1, depth = 1, pid = 0, nodes = 10000;
  double secs = 2.0, warm = 0.3;
  int ch;
  while ((ch = getopt(argc, argv, "s:o:c:d:t:w:p:n:")) != -1) {
    switch (ch) {
      case 's': sock = optarg; break;
      case 'o': opname = optarg; break;
      case 'c': clients = atoi(optarg); break;
      case 'd': depth = atoi(optarg); break;
      case 't': secs = atof(optarg); break;
      case 'w': warm = atof(optarg); break;
      case 'p': pid = atoi(optarg); break;
      case 'n': nodes = atoi(optarg); break;
      default: usage();
    }
  }
  if (!sock || !opname || clients < 1 || clients > 256 || depth < 1 || depth > MAX_DEPTH || secs <= 0) usage();
  const char *to = getenv("XSBENCH_TIMEOUT_S");
  if (to && atoi(to) > 0) io_timeout_ms = atoi(to) * 1000;
  signal(SIGPIPE, SIG_IGN);

  if (strcmp(opname, "setup") == 0) {
    do_setup(sock);
    return 0;
  }
  if (strcmp(opname, "mem") == 0) {
    do_mem(sock, nodes);
    return 0;
  }
  enum op op;
  if (strcmp(opname, "read") == 0) op = OP_READ;
  else if (strcmp(opname, "write") == 0) op = OP_WRITE;
  else if (strcmp(opname, "dir") == 0) op = OP_DIR;
  else if (strcmp(opname, "tx") == 0) op = OP_TX;
  else usage();

  int ready[2], go[2], res[2];
  if (pipe(ready) || pipe(go) || pipe(res)) die("pipe: %s", strerror(errno));
  pid_t kids[256];
  for (int k = 0; k < clients; k++) {
    pid_t p = fork();
    if (p < 0) die("fork: %s", strerror(errno));
    if (p == 0) {
      close(ready[0]);
      close(go[1]);
      close(res[0]);
      static struct conn c;
      conn_init(&c, sock, op, depth, k);
      if (op == OP_TX) /* the transaction reads its node, so it must exist */
        for (int i = 0; i < depth; i++) request(c.fd, XS_WRITE, c.slots[i].node, strlen(c.slots[i].node) + 1, "init", 4);
      run_until(&c, now_s() + warm); /* warm-up: connection set up, daemon's caches and JIT warm */
      c.ops = c.reqs = c.retries = 0;
      if (c.errors) die("%lld error replies during warm-up", c.errors);
      char b = 'r';
      write_all(ready[1], &b, 1);
      char g;
      if (read(go[0], &g, 1) != 0) die("unexpected data on the start pipe");
      run_until(&c, now_s() + secs);
      struct result r = {c.ops, c.reqs, c.retries, c.errors};
      write_all(res[1], (const char *)&r, sizeof(r));
      close(c.fd);
      _exit(0);
    }
    kids[k] = p;
  }
  close(ready[1]);
  close(go[0]);
  close(res[1]);
  for (int k = 0; k < clients; k++) {
    char b;
    struct pollfd p = {.fd = ready[0], .events = POLLIN};
    if (poll(&p, 1, io_timeout_ms + (int)(warm * 1000)) <= 0 || read(ready[0], &b, 1) != 1) {
      for (int j = 0; j < clients; j++) kill(kids[j], SIGKILL);
      die("client %d did not get ready", k);
    }
  }
  long long user0, sys0, user1, sys1;
  int cpu0 = proc_cpu_ticks(pid, &user0, &sys0);
  double t0 = now_s();
  close(go[1]); /* every client's read() returns 0 at once */
  struct result total = {0, 0, 0, 0};
  int failed = 0;
  for (int k = 0; k < clients; k++) {
    int st;
    if (waitpid(kids[k], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) failed = 1;
  }
  double t1 = now_s();
  int cpu1 = proc_cpu_ticks(pid, &user1, &sys1);
  struct result r;
  int got = 0;
  while (read(res[0], &r, sizeof(r)) == (ssize_t)sizeof(r)) {
    total.ops += r.ops;
    total.reqs += r.reqs;
    total.retries += r.retries;
    total.errors += r.errors;
    got++;
  }
  if (failed || got != clients) die("%d of %d clients failed", clients - got, clients);
  int known = cpu0 == 0 && cpu1 == 0;
  long long du = known ? user1 - user0 : -1, ds = known ? sys1 - sys0 : -1;
  printf("ops=%lld reqs=%lld secs=%.6f cpu_ticks=%lld user_ticks=%lld sys_ticks=%lld clk_tck=%ld errors=%lld retries=%lld\n",
         total.ops, total.reqs, t1 - t0, known ? du + ds : -1, du, ds, sysconf(_SC_CLK_TCK), total.errors,
         total.retries);
  return total.errors ? 1 : 0;
}
