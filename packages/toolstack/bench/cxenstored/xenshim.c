/*
 * xenshim.so: an LD_PRELOAD library that lets Xen 4.17's cxenstored (Debian's xen-utils-4.17
 * binary, /usr/lib/xen-4.17/bin/xenstored) start on a host without a hypervisor and serve its
 * Unix socket. It replaces the calls cxenstored makes at start-up and while serving:
 *
 *  - libxenctrl:  xc_interface_open / xc_interface_close / xc_domain_getinfo
 *                 (domain_init, get_domain_info in xenstored_domain.c). Only dom0 exists.
 *  - libxengnttab: xengnttab_open / _close / _set_max_grants / _map_grant_ref / _unmap
 *                 (domain_init; map_interface for introduced guests: an anonymous page).
 *  - libxenevtchn: xenevtchn_open / _fdopen / _close / _fd / _bind_virq / _bind_interdomain /
 *                 _notify / _pending / _unmask / _unbind (domain_init, dom0_init, new_domain).
 *                 The handle's fd is an eventfd that never fires, so cxenstored's poll() loop
 *                 only ever wakes for its sockets.
 *  - open() of /proc/xen/xsd_port (xenbus_evtchn in xenstored_posix.c: dom0's xenstore event
 *    channel; answered "1") and /proc/xen/xsd_kva (xenbus_map: dom0's ring page, a zeroed
 *    4 KiB memfd, so dom0's ring stays empty).
 *
 * With these, cxenstored runs its normal start-up (domain_init + dom0_init, dom0 introduced),
 * not the --no-domain-init shortcut, and every socket client is a privileged dom0 tool, as on a
 * real dom0. Nothing here is called per request on the socket path except xenevtchn_fd() when
 * cxenstored rebuilds its poll set.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define SHIM_PAGE 4096

/* ---- libxenevtchn (xenevtchn.h) ---- */

typedef struct xenevtchn_handle {
  int fd;
} xenevtchn_handle;

static int next_port = 2; /* port 1 is dom0's xenstore port as read from xsd_port */

static void shim_log(const char *what) {
  if (getenv("XENSHIM_VERBOSE")) fprintf(stderr, "xenshim: %s\n", what);
}

xenevtchn_handle *xenevtchn_open(void *logger, unsigned int flags) {
  (void)logger;
  (void)flags;
  xenevtchn_handle *h = calloc(1, sizeof(*h));
  if (!h) return NULL;
  h->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (h->fd < 0) {
    free(h);
    return NULL;
  }
  shim_log("xenevtchn_open");
  return h;
}

xenevtchn_handle *xenevtchn_fdopen(void *logger, int fd, unsigned int flags) {
  (void)logger;
  (void)flags;
  xenevtchn_handle *h = calloc(1, sizeof(*h));
  if (!h) return NULL;
  h->fd = fd;
  return h;
}

int xenevtchn_close(xenevtchn_handle *h) {
  if (!h) return 0;
  close(h->fd);
  free(h);
  return 0;
}

int xenevtchn_fd(xenevtchn_handle *h) { return h ? h->fd : -1; }

int xenevtchn_notify(xenevtchn_handle *h, uint32_t port) {
  (void)h;
  (void)port;
  return 0;
}

int xenevtchn_bind_virq(xenevtchn_handle *h, unsigned int virq) {
  (void)h;
  (void)virq;
  shim_log("xenevtchn_bind_virq");
  return next_port++;
}

int xenevtchn_bind_interdomain(xenevtchn_handle *h, uint32_t domid, uint32_t remote_port) {
  (void)h;
  (void)domid;
  (void)remote_port;
  shim_log("xenevtchn_bind_interdomain");
  return next_port++;
}

int xenevtchn_unbind(xenevtchn_handle *h, uint32_t port) {
  (void)h;
  (void)port;
  return 0;
}

int xenevtchn_pending(xenevtchn_handle *h) {
  (void)h;
  errno = EAGAIN;
  return -1;
}

int xenevtchn_unmask(xenevtchn_handle *h, uint32_t port) {
  (void)h;
  (void)port;
  return 0;
}

/* ---- libxengnttab (xengnttab.h) ---- */

static int gnttab_dummy;

void *xengnttab_open(void *logger, unsigned int flags) {
  (void)logger;
  (void)flags;
  shim_log("xengnttab_open");
  return &gnttab_dummy;
}

int xengnttab_close(void *h) {
  (void)h;
  return 0;
}

int xengnttab_set_max_grants(void *h, uint32_t count) {
  (void)h;
  (void)count;
  return 0;
}

void *xengnttab_map_grant_ref(void *h, uint32_t domid, uint32_t ref, int prot) {
  (void)h;
  (void)domid;
  (void)ref;
  void *p = mmap(NULL, SHIM_PAGE, prot | PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

int xengnttab_unmap(void *h, void *start_address, uint32_t count) {
  (void)h;
  return munmap(start_address, (size_t)count * SHIM_PAGE);
}

/* ---- libxenctrl (xenctrl.h) ---- */

static int xc_dummy;

void *xc_interface_open(void *logger, void *dombuild_logger, unsigned int open_flags) {
  (void)logger;
  (void)dombuild_logger;
  (void)open_flags;
  shim_log("xc_interface_open");
  return &xc_dummy;
}

int xc_interface_close(void *xch) {
  (void)xch;
  return 0;
}

/*
 * xc_domain_getinfo(xch, first_domid, max_doms, info): the domains with id >= first_domid.
 * Only dom0 exists. xc_dominfo_t starts with uint32_t domid, uint32_t ssidref, a word of
 * flag bits (dying, crashed, shutdown, ...) and uint32_t shutdown_reason; only those 16 bytes
 * are written (get_domain_info reads domid, dying and shutdown).
 */
int xc_domain_getinfo(void *xch, uint32_t first_domid, unsigned int max_doms, void *info) {
  (void)xch;
  if (first_domid != 0 || max_doms == 0) return 0;
  memset(info, 0, 16);
  return 1;
}

/* ---- /proc/xen opens (xenstored_posix.c) ---- */

static int fake_xen_file(const char *path) {
  if (strcmp(path, "/proc/xen/xsd_port") == 0) {
    int fd = memfd_create("xsd_port", MFD_CLOEXEC);
    if (fd < 0) return -1;
    if (write(fd, "1\n", 2) != 2 || lseek(fd, 0, SEEK_SET) != 0) {
      close(fd);
      return -1;
    }
    shim_log("open /proc/xen/xsd_port");
    return fd;
  }
  if (strcmp(path, "/proc/xen/xsd_kva") == 0) {
    int fd = memfd_create("xsd_kva", MFD_CLOEXEC);
    if (fd < 0) return -1;
    if (ftruncate(fd, SHIM_PAGE) != 0) {
      close(fd);
      return -1;
    }
    shim_log("open /proc/xen/xsd_kva");
    return fd;
  }
  return -2; /* not ours */
}

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);

#define FORWARD_OPEN(name)                                     \
  int name(const char *path, int flags, ...) {                 \
    int fd = fake_xen_file(path);                              \
    if (fd != -2) return fd;                                   \
    mode_t mode = 0;                                           \
    if (flags & (O_CREAT | O_TMPFILE)) {                       \
      va_list ap;                                              \
      va_start(ap, flags);                                     \
      mode = va_arg(ap, mode_t);                               \
      va_end(ap);                                              \
    }                                                          \
    static open_fn real;                                       \
    if (!real) real = (open_fn)dlsym(RTLD_NEXT, #name);        \
    return real(path, flags, mode);                            \
  }

FORWARD_OPEN(open)
FORWARD_OPEN(open64)

#define FORWARD_OPENAT(name)                                   \
  int name(int dirfd, const char *path, int flags, ...) {      \
    int fd = fake_xen_file(path);                              \
    if (fd != -2) return fd;                                   \
    mode_t mode = 0;                                           \
    if (flags & (O_CREAT | O_TMPFILE)) {                       \
      va_list ap;                                              \
      va_start(ap, flags);                                     \
      mode = va_arg(ap, mode_t);                               \
      va_end(ap);                                              \
    }                                                          \
    static openat_fn real;                                     \
    if (!real) real = (openat_fn)dlsym(RTLD_NEXT, #name);      \
    return real(dirfd, path, flags, mode);                     \
  }

FORWARD_OPENAT(openat)
FORWARD_OPENAT(openat64)
