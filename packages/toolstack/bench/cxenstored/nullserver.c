/*
 * nullserver: the ceiling reference for the xenstored benchmark. It listens on a Unix socket,
 * frames xs_wire requests (struct xsd_sockmsg, <xen/io/xs_wire.h>) and answers each with a fixed
 * reply without looking at the store: the request's type, req_id and tx_id, payload "1\0" for
 * XS_TRANSACTION_START (a transaction id) and "OK\0" otherwise. One thread, poll(); all replies to
 * what one read() brought are sent with one write(). What it serves is what the socket, the
 * scheduler and xsbench allow, so a daemon's figure over the null server's is its share of it.
 *
 *   nullserver SOCKET     (runs until SIGTERM/SIGINT, then removes SOCKET)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <xen/io/xs_wire.h>

#define HDR sizeof(struct xsd_sockmsg)
#define MAXC 512
#define BUF (1 << 16)

struct client {
  int fd;
  size_t len;
  char in[BUF + HDR + XENSTORE_PAYLOAD_MAX];
};

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: nullserver SOCKET\n");
    return 2;
  }
  const char *path = argv[1];
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (ls < 0 || strlen(path) >= sizeof(addr.sun_path)) {
    perror("nullserver: socket");
    return 1;
  }
  strcpy(addr.sun_path, path);
  unlink(path);
  if (bind(ls, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(ls, 64) != 0) {
    perror("nullserver: bind/listen");
    return 1;
  }
  static struct client *clients[MAXC];
  static struct pollfd pfd[MAXC + 1];
  static char out[2 * BUF];
  int n = 0;
  while (!stop) {
    pfd[0] = (struct pollfd){.fd = ls, .events = POLLIN};
    for (int i = 0; i < n; i++) pfd[i + 1] = (struct pollfd){.fd = clients[i]->fd, .events = POLLIN};
    if (poll(pfd, (nfds_t)n + 1, -1) < 0) {
      if (errno == EINTR) continue;
      perror("nullserver: poll");
      break;
    }
    if ((pfd[0].revents & POLLIN) && n < MAXC) {
      int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
      if (fd >= 0) {
        struct client *c = calloc(1, sizeof(*c));
        if (!c) {
          close(fd);
        } else {
          c->fd = fd;
          clients[n++] = c;
        }
      }
    }
    for (int i = 0; i < n; i++) {
      if (!(pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      struct client *c = clients[i];
      ssize_t r = read(c->fd, c->in + c->len, BUF);
      if (r <= 0) {
        close(c->fd);
        free(c);
        clients[i] = clients[--n];
        pfd[i + 1] = pfd[n + 1];
        i--;
        continue;
      }
      c->len += (size_t)r;
      size_t off = 0, olen = 0;
      int bad = 0;
      while (c->len - off >= HDR) {
        struct xsd_sockmsg h;
        memcpy(&h, c->in + off, HDR);
        if (h.len > XENSTORE_PAYLOAD_MAX) {
          bad = 1;
          break;
        }
        if (c->len - off < HDR + h.len) break;
        off += HDR + h.len;
        const char *p = h.type == XS_TRANSACTION_START ? "1" : "OK";
        h.len = (uint32_t)strlen(p) + 1;
        memcpy(out + olen, &h, HDR);
        memcpy(out + olen + HDR, p, h.len);
        olen += HDR + h.len;
      }
      memmove(c->in, c->in + off, c->len - off);
      c->len -= off;
      size_t w = 0;
      while (w < olen) {
        ssize_t k = write(c->fd, out + w, olen - w);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
          bad = 1;
          break;
        }
        w += (size_t)k;
      }
      if (bad) {
        close(c->fd);
        free(c);
        clients[i] = clients[--n];
        pfd[i + 1] = pfd[n + 1];
        i--;
      }
    }
  }
  unlink(path);
  return 0;
}
