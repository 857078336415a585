/*
 * native_chain.c - a C program whose native stack is known, for the unwinder's
 * tests (tests/unit/test_unwind.c). Built -O0 -g by the Makefile, also
 * stripped (native_chain_stripped) and stripped with its functions exported
 * (native_chain_dynsym), so each frame below is a real call.
 *
 *   native_chain main    main -> c_outer -> c_middle -> c_inner -> spyglass::test::leaf(int)
 *   native_chain thread  the same chain on a pthread (thread_main at its bottom), while
 *                        main waits in pthread_join
 *   native_chain dlopen  the main chain; on SIGUSR1 the leaf loads libz with dlopen and
 *                        calls deflateInit2_, whose allocator (zalloc_spin) spins
 *   native_chain loop    main -> loop_frame, an assembly function whose CFI says its caller
 *                        is itself, at the same stack pointer: a stack that never ends
 *                        (x86-64 only)
 *
 * The leaf (and loop mode, before loop_frame) prints "READY <tid>" and spins;
 * zalloc_spin prints "ZALLOC <tid>".
 * The leaf's symbol is a C++ mangled name (an asm label), so the test sees the
 * demangler at work without a C++ compiler.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static volatile sig_atomic_t go;
static volatile unsigned long spins;
static const char *mode = "main";

/* zlib's z_stream, as far as deflateInit2_ reads it (zlib.h is not needed). */
struct z_stream_head {
    const void *next_in;
    unsigned avail_in;
    unsigned long total_in;
    void *next_out;
    unsigned avail_out;
    unsigned long total_out;
    const char *msg;
    void *state;
    void *(*zalloc)(void *opaque, unsigned items, unsigned size);
    void (*zfree)(void *opaque, void *address);
    void *opaque;
    int data_type;
    unsigned long adler, reserved;
};

static void on_usr1(int sig)
{
    (void)sig;
    go = 1;
}

static void say(const char *what)
{
    printf("%s %d\n", what, (int)gettid());
    fflush(stdout);
}

/* Called by libz from deflateInit2_: the innermost frame of dlopen mode. */
NOINLINE void *zalloc_spin(void *opaque, unsigned items, unsigned size)
{
    (void)opaque;
    (void)items;
    (void)size;
    say("ZALLOC");
    for (;;)
        spins++;
    return NULL;
}

NOINLINE static int load_libz(void)
{
    void *z = dlopen("libz.so.1", RTLD_NOW);
    if (!z)
        return 1;
    int (*init)(struct z_stream_head *, int, int, int, int, int, const char *, int);
    *(void **)&init = dlsym(z, "deflateInit2_");
    if (!init)
        return 1;
    struct z_stream_head strm;
    memset(&strm, 0, sizeof(strm));
    strm.zalloc = zalloc_spin;
    /* level 6, Z_DEFLATED, 15 window bits, memLevel 8, default strategy */
    return init(&strm, 6, 8, 15, 8, 0, "1.2.13", (int)sizeof(strm));
}

NOINLINE void leaf(int depth) __asm__("_ZN8spyglass4test4leafEi");
NOINLINE void leaf(int depth)
{
    say("READY");
    while (!go)
        spins += (unsigned long)depth;
    if (strcmp(mode, "dlopen") == 0)
        exit(load_libz());
    for (;;)
        spins++;
}

#if defined(__x86_64__)
/* Pushes the address of its spin loop and then declares, in its CFI, that
 * the return address is at the stack pointer and the caller's stack pointer
 * is the same: unwinding it yields the same frame for ever. */
void loop_frame(void);
__asm__(".text\n"
        ".globl loop_frame\n"
        ".type loop_frame, @function\n"
        "loop_frame:\n"
        "    .cfi_startproc\n"
        "    leaq 1f(%rip), %rax\n"
        "    pushq %rax\n"
        "    .cfi_def_cfa %rsp, 0\n"
        "    .cfi_offset %rip, 0\n"
        "1:  jmp 1b\n"
        "    .cfi_endproc\n"
        ".size loop_frame, .-loop_frame\n");
#endif

NOINLINE void c_inner(int depth)
{
    leaf(depth + 1);
    spins++; /* work after each call: no call here is a tail call */
}

NOINLINE void c_middle(int depth)
{
    c_inner(depth + 1);
    spins++;
}

NOINLINE void c_outer(int depth)
{
    c_middle(depth + 1);
    spins++;
}

NOINLINE void *thread_main(void *arg)
{
    (void)arg;
    c_outer(1);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        mode = argv[1];
    signal(SIGUSR1, on_usr1);
    if (strcmp(mode, "thread") == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, thread_main, NULL) != 0)
            return 1;
        pthread_join(t, NULL);
        return 0;
    }
#if defined(__x86_64__)
    if (strcmp(mode, "loop") == 0) {
        say("READY");
        loop_frame();
    }
#endif
    if (strcmp(mode, "main") != 0 && strcmp(mode, "dlopen") != 0) {
        fprintf(stderr, "usage: native_chain main|thread|dlopen|loop\n");
        return 2;
    }
    c_outer(1);
    return 0;
}
