/*
 * symcache.c - names of code addresses, from libdwfl's symbol tables, cached.
 *
 * Two levels. An address seen before is one probe of a hash table (struct
 * entry: open addressing, load <= 1/2). A new address is looked up by
 * binary search in its module's functions (struct module_syms), which are
 * read from libdwfl once per module (dwfl_module_getsymtab: .symtab, else
 * .dynsym, or a debug file's found by build id) and sorted by address. We
 * do not call dwfl_module_addrinfo per address: it scans the whole table
 * through libelf each time, 100-300 us in libpython or libcrypto, and in
 * code without symbols (libcrypto's SHA-256 assembly) every new pc is a new
 * scan that finds nothing.
 *
 * A function is a defined STT_FUNC or STT_GNU_IFUNC symbol (or a sized
 * STT_NOTYPE one, as assembly writes them). A symbol without a size reaches
 * to the next symbol, at most SIZELESS_MAX bytes. Of several symbols at one
 * address the global one is shown, then the weak, then the local, then the
 * first by name: aliases name the same function the same way every time.
 */
#include "proc/symcache.h"

#include <dlfcn.h>
#include <elf.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define SIZELESS_MAX 65536 /* most bytes a symbol without a size is taken to cover */
#define SCAN_BACK 8        /* earlier symbols tried when the nearest does not hold an address */

/* A function of a module. */
struct sym {
    uint64_t start, end; /* [start, end), absolute */
    const char *raw;     /* libdwfl's string: valid while the module is reported */
    char *display;       /* demangled, version dropped: made on first use, owned */
    int rank;            /* 0 global, 1 weak, 2 local: which alias is shown */
};

/* A module's functions, sorted by start. */
struct module_syms {
    Dwfl_Module *mod;
    const char *name; /* interned basename */
    uint64_t bias;
    struct sym *syms;
    size_t count;
};

/* An address looked up. */
struct entry {
    uint64_t addr; /* 0: empty slot */
    struct symcache_name name;
};

struct symcache {
    struct entry *entries;
    size_t entries_count, entries_cap;
    struct module_syms *mods; /* modules met since the last clear */
    size_t mods_count, mods_cap;
    char **names; /* interned module basenames, for the cache's lifetime */
    size_t names_count, names_cap;
    uint64_t misses;
};

/* ---- Display names ---- */

typedef char *(*demangle_fn)(const char *mangled, char *out, size_t *length, int *status);
static demangle_fn cxa_demangle;
static pthread_once_t demangle_once = PTHREAD_ONCE_INIT;

/* Every system with C++ programs to profile has libstdc++.so.6; without it
 * names stay mangled. Loaded once, never unloaded. */
static void demangle_load(void)
{
    void *lib = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
    if (lib)
        *(void **)&cxa_demangle = dlsym(lib, "__cxa_demangle");
}

/* Returns a newly allocated display name for a symbol-table name: the
 * version suffix dropped ("memcpy@@GLIBC_2.14"), C++ names demangled. */
static char *display_name(const char *raw)
{
    char *name = xstrndup(raw, strcspn(raw, "@"));
    if (strncmp(name, "_Z", 2) != 0)
        return name;
    pthread_once(&demangle_once, demangle_load);
    int status = -1;
    char *demangled = cxa_demangle ? cxa_demangle(name, NULL, NULL, &status) : NULL;
    if (!demangled || status != 0) {
        free(demangled);
        return name;
    }
    free(name);
    name = xstrdup(demangled);
    free(demangled); /* from the demangler's malloc */
    return name;
}

/* Returns the interned basename of a module's name ("[vdso: 123]" is
 * "[vdso]"), valid as long as the cache. */
static const char *intern_module(struct symcache *c, const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    if (strncmp(base, "[vdso", 5) == 0)
        base = "[vdso]";
    for (size_t i = 0; i < c->names_count; i++)
        if (strcmp(c->names[i], base) == 0)
            return c->names[i];
    c->names = xgrow(c->names, sizeof(*c->names), c->names_count + 1, &c->names_cap);
    c->names[c->names_count] = xstrdup(base);
    return c->names[c->names_count++];
}

/* ---- A module's functions ---- */

static int sym_order(const void *a, const void *b)
{
    const struct sym *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->rank != y->rank)
        return x->rank - y->rank;
    return strcmp(x->raw, y->raw);
}

/* Returns 1 if the symbol is a function defined in this module. */
static int is_function(const GElf_Sym *sym, GElf_Word shndx)
{
    int type = GELF_ST_TYPE(sym->st_info);
    if (shndx == SHN_UNDEF || shndx == (GElf_Word)-1) /* imported, or not loaded */
        return 0;
    return type == STT_FUNC || type == STT_GNU_IFUNC || (type == STT_NOTYPE && sym->st_size);
}

/* Reads and sorts the functions of mod's symbol table into ms. */
static void load_syms(struct module_syms *ms)
{
    int n = dwfl_module_getsymtab(ms->mod);
    size_t cap = 0;
    for (int i = 1; i < n; i++) { /* 0 is the null symbol */
        GElf_Sym sym;
        GElf_Addr addr;
        GElf_Word shndx;
        const char *raw = dwfl_module_getsym_info(ms->mod, i, &sym, &addr, &shndx, NULL, NULL);
        if (!raw || !raw[0] || !is_function(&sym, shndx))
            continue;
        int bind = GELF_ST_BIND(sym.st_info);
        ms->syms = xgrow(ms->syms, sizeof(*ms->syms), ms->count + 1, &cap);
        ms->syms[ms->count++] = (struct sym){
            .start = addr,
            .end = addr + sym.st_size,
            .raw = raw,
            .rank = bind == STB_GLOBAL ? 0
                    : bind == STB_WEAK ? 1
                                       : 2,
        };
    }
    if (ms->count)
        qsort(ms->syms, ms->count, sizeof(*ms->syms), sym_order);
    for (size_t i = 0; i < ms->count; i++) {
        struct sym *s = &ms->syms[i];
        if (s->end > s->start)
            continue;
        uint64_t next = s->start + SIZELESS_MAX;
        for (size_t k = i + 1; k < ms->count; k++)
            if (ms->syms[k].start > s->start) {
                next = ms->syms[k].start < next ? ms->syms[k].start : next;
                break;
            }
        s->end = next;
    }
}

/* Returns the functions of mod, read on first use. */
static struct module_syms *module_syms(struct symcache *c, Dwfl_Module *mod)
{
    for (size_t i = 0; i < c->mods_count; i++)
        if (c->mods[i].mod == mod)
            return &c->mods[i];
    c->mods = xgrow(c->mods, sizeof(*c->mods), c->mods_count + 1, &c->mods_cap);
    struct module_syms *ms = &c->mods[c->mods_count++];
    *ms = (struct module_syms){.mod = mod};
    Dwarf_Addr low = 0, bias = 0;
    const char *name = dwfl_module_info(mod, NULL, &low, NULL, NULL, NULL, NULL, NULL);
    ms->name = intern_module(c, name ? name : "?");
    /* Without its ELF file the bias is unknown: a shared object's is its low address. */
    ms->bias = dwfl_module_getelf(mod, &bias) ? bias : low;
    load_syms(ms);
    return ms;
}

/* Returns the function of ms holding addr, or NULL. */
static struct sym *find_sym(struct module_syms *ms, uint64_t addr)
{
    size_t lo = 0, hi = ms->count; /* find the first symbol starting after addr */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ms->syms[mid].start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Go back over the nearest starts at or below addr (a function may nest
     * in a bigger one); at each start, the best-ranked alias holding addr. */
    for (size_t end = lo, starts = 0; end > 0 && starts < SCAN_BACK; starts++) {
        size_t first = end - 1;
        while (first > 0 && ms->syms[first - 1].start == ms->syms[first].start)
            first--;
        for (size_t i = first; i < end; i++)
            if (addr < ms->syms[i].end)
                return &ms->syms[i];
        end = first;
    }
    return NULL;
}

/* ---- Addresses ---- */

/* Returns the slot holding addr, or the empty slot where it belongs. */
static struct entry *entry_slot(struct entry *table, size_t cap, uint64_t addr)
{
    size_t mask = cap - 1;
    uint64_t h = addr * 0x9e3779b97f4a7c15ull; /* Fibonacci hashing spreads nearby addresses */
    for (size_t i = (size_t)(h >> 20) & mask;; i = (i + 1) & mask)
        if (table[i].addr == addr || table[i].addr == 0)
            return &table[i];
}

/* Makes room for one more entry: doubles the table before it passes half full. */
static void entries_reserve(struct symcache *c)
{
    if (c->entries_count + 1 <= c->entries_cap / 2)
        return;
    size_t cap = c->entries_cap ? c->entries_cap * 2 : 1024;
    struct entry *table = xcalloc(cap, sizeof(*table));
    for (size_t i = 0; i < c->entries_cap; i++)
        if (c->entries[i].addr)
            *entry_slot(table, cap, c->entries[i].addr) = c->entries[i];
    free(c->entries);
    c->entries = table;
    c->entries_cap = cap;
}

/* Finds what addr is, in its module's functions. */
static struct symcache_name resolve(struct symcache *c, Dwfl *dwfl, uint64_t addr)
{
    struct symcache_name name = {0};
    c->misses++;
    Dwfl_Module *mod = dwfl_addrmodule(dwfl, addr);
    if (!mod)
        return name;
    struct module_syms *ms = module_syms(c, mod);
    name.module = ms->name;
    name.bias = ms->bias;
    struct sym *s = find_sym(ms, addr);
    if (s) {
        if (!s->display)
            s->display = display_name(s->raw);
        name.symbol = s->display;
        name.start = s->start;
    }
    return name;
}

/* ---- Interface ---- */

struct symcache *symcache_new(void)
{
    return xcalloc(1, sizeof(struct symcache));
}

void symcache_clear(struct symcache *c)
{
    for (size_t m = 0; m < c->mods_count; m++) {
        for (size_t i = 0; i < c->mods[m].count; i++)
            free(c->mods[m].syms[i].display);
        free(c->mods[m].syms);
    }
    c->mods_count = 0;
    if (c->entries)
        memset(c->entries, 0, c->entries_cap * sizeof(*c->entries));
    c->entries_count = 0;
}

void symcache_free(struct symcache *c)
{
    if (!c)
        return;
    symcache_clear(c);
    free(c->entries);
    free(c->mods);
    for (size_t i = 0; i < c->names_count; i++)
        free(c->names[i]);
    free(c->names);
    free(c);
}

size_t symcache_count(const struct symcache *c)
{
    return c->entries_count;
}

uint64_t symcache_misses(const struct symcache *c)
{
    return c->misses;
}

void symcache_lookup(struct symcache *c, Dwfl *dwfl, uint64_t addr, struct symcache_name *out)
{
    *out = (struct symcache_name){0};
    if (addr == 0) /* never code; and 0 marks an empty slot */
        return;
    entries_reserve(c);
    struct entry *e = entry_slot(c->entries, c->entries_cap, addr);
    if (e->addr != addr) {
        e->name = resolve(c, dwfl, addr);
        e->addr = addr;
        c->entries_count++;
    }
    *out = e->name;
}
