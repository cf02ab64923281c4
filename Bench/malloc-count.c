/*
 * malloc-count: an LD_PRELOAD library counting heap allocation calls.
 *
 * Counts calls to malloc, calloc, realloc, posix_memalign, aligned_alloc,
 * memalign, valloc and pvalloc (and, for information, free), and at exit
 * writes one line
 *
 *   malloc-count: pid=P total=N malloc=.. calloc=.. realloc=.. aligned=.. free=..
 *
 * to standard error, or appends it to the file named by MALLOC_COUNT_OUT.
 * `total` is every allocating call. Running a program on inputs of two sizes
 * and dividing the difference of the totals by the difference of the packet
 * counts gives allocations per packet, with start-up and shutdown costs
 * cancelled out.
 *
 * Build: cc -O2 -shared -fPIC -o Bench/out/malloc-count.so Bench/malloc-count.c -ldl
 * Use:   MALLOC_COUNT_OUT=/tmp/allocs LD_PRELOAD=$PWD/Bench/out/malloc-count.so prog ...
 *
 * The real functions are found with dlsym(RTLD_NEXT, ...). dlsym itself may
 * allocate (glibc's dlerror state uses calloc), which would call back into
 * us before the real functions are known: while resolving, allocations are
 * served from a static buffer, which free and realloc recognise.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);
static void *(*real_pvalloc)(size_t);

enum { C_MALLOC, C_CALLOC, C_REALLOC, C_ALIGNED, C_FREE, C_COUNT };
static unsigned long long counts[C_COUNT];

static inline void bump(int which)
{
    __atomic_fetch_add(&counts[which], 1, __ATOMIC_RELAXED);
}

/* Bootstrap arena for allocations made while dlsym runs. Never freed. */
static _Alignas(64) char bootstrap[64 * 1024];
static size_t bootstrap_used;
static int resolving;
static int resolved;

static void *bootstrap_alloc(size_t size)
{
    size_t rounded = (size + 15) & ~(size_t)15;
    size_t at = __atomic_fetch_add(&bootstrap_used, rounded, __ATOMIC_RELAXED);
    if (at + rounded > sizeof bootstrap) {
        errno = ENOMEM;
        return NULL;
    }
    return bootstrap + at;
}

static inline int is_bootstrap(const void *p)
{
    return (const char *)p >= bootstrap && (const char *)p < bootstrap + sizeof bootstrap;
}

static void resolve(void)
{
    if (__atomic_load_n(&resolved, __ATOMIC_ACQUIRE))
        return;
    resolving = 1;
    real_malloc = dlsym(RTLD_NEXT, "malloc");
    real_calloc = dlsym(RTLD_NEXT, "calloc");
    real_realloc = dlsym(RTLD_NEXT, "realloc");
    real_free = dlsym(RTLD_NEXT, "free");
    real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    real_memalign = dlsym(RTLD_NEXT, "memalign");
    real_valloc = dlsym(RTLD_NEXT, "valloc");
    real_pvalloc = dlsym(RTLD_NEXT, "pvalloc");
    resolving = 0;
    if (real_malloc == NULL || real_calloc == NULL || real_realloc == NULL || real_free == NULL) {
        static const char msg[] = "malloc-count: cannot find the real allocator\n";
        (void)!write(2, msg, sizeof msg - 1);
        abort();
    }
    __atomic_store_n(&resolved, 1, __ATOMIC_RELEASE);
}

void *malloc(size_t size)
{
    bump(C_MALLOC);
    if (resolving)
        return bootstrap_alloc(size);
    resolve();
    return real_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    bump(C_CALLOC);
    if (resolving) {
        /* Static storage is already zero. */
        if (size != 0 && n > SIZE_MAX / size) {
            errno = ENOMEM;
            return NULL;
        }
        return bootstrap_alloc(n * size);
    }
    resolve();
    return real_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    bump(C_REALLOC);
    if (resolving)
        return bootstrap_alloc(size); /* dlsym does not realloc; be safe anyway */
    resolve();
    if (is_bootstrap(p)) {
        /* The old size is unknown: copy what can lie between p and the end. */
        void *q = real_malloc(size);
        size_t avail = (size_t)(bootstrap + sizeof bootstrap - (char *)p);
        if (q != NULL)
            memcpy(q, p, size < avail ? size : avail);
        return q;
    }
    return real_realloc(p, size);
}

void free(void *p)
{
    if (p == NULL)
        return;
    bump(C_FREE);
    if (is_bootstrap(p))
        return;
    resolve();
    real_free(p);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    bump(C_ALIGNED);
    resolve();
    return real_posix_memalign(out, alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size)
{
    bump(C_ALIGNED);
    resolve();
    return real_aligned_alloc(alignment, size);
}

void *memalign(size_t alignment, size_t size)
{
    bump(C_ALIGNED);
    resolve();
    return real_memalign(alignment, size);
}

void *valloc(size_t size)
{
    bump(C_ALIGNED);
    resolve();
    return real_valloc(size);
}

void *pvalloc(size_t size)
{
    bump(C_ALIGNED);
    resolve();
    return real_pvalloc(size);
}

/* Runs at exit() (not at _exit or on a fatal signal). Uses only snprintf
 * into the stack and write(2): no stdio stream, no allocation. */
__attribute__((destructor)) static void report(void)
{
    unsigned long long m = __atomic_load_n(&counts[C_MALLOC], __ATOMIC_RELAXED);
    unsigned long long c = __atomic_load_n(&counts[C_CALLOC], __ATOMIC_RELAXED);
    unsigned long long r = __atomic_load_n(&counts[C_REALLOC], __ATOMIC_RELAXED);
    unsigned long long a = __atomic_load_n(&counts[C_ALIGNED], __ATOMIC_RELAXED);
    unsigned long long f = __atomic_load_n(&counts[C_FREE], __ATOMIC_RELAXED);
    char line[256];
    int n = snprintf(line, sizeof line,
                     "malloc-count: pid=%d total=%llu malloc=%llu calloc=%llu realloc=%llu aligned=%llu free=%llu\n",
                     (int)getpid(), m + c + r + a, m, c, r, a, f);
    if (n <= 0)
        return;
    if ((size_t)n >= sizeof line)
        n = sizeof line - 1;
    const char *path = getenv("MALLOC_COUNT_OUT");
    int fd = 2;
    if (path != NULL && *path != '\0') {
        /* Append: a program that forks leaves one line per process. */
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            fd = 2;
    }
    (void)!write(fd, line, (size_t)n);
    if (fd != 2)
        close(fd);
}
