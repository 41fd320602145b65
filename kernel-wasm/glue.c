/*
 * kernel-wasm/glue.c - Debian 12's kernel/dma/swiotlb.c and kernel/dma/direct.c
 * as a dmacheck wasm backend (include/dmacheck.h, ABI version 1).
 *
 * Written for dmacheck; the only kernel code in the module is what
 * scripts/build-kernel-swiotlb.sh compiles from /usr/src/linux-source-6.1.
 * This file has three parts:
 *
 *   1. the shim runtime: what kernel-wasm/include's headers declare (the
 *      pointer windows onto the machine's kernel addresses, memcpy/memset
 *      through the simulated CPU, the page allocator, memblock, printk,
 *      BUG/WARN, a small heap for the kernel's own bookkeeping);
 *   2. the role of kernel/dma/mapping.c and of the x86 arch code: dma_set_mask
 *      and friends over dma_direct_supported(), the dma_*_attrs entry points
 *      over dma-direct (dev->dma_ops is NULL on x86 without an IOMMU), the x86
 *      boot sequence for swiotlb (pci_swiotlb_detect, pci_iommu_alloc,
 *      mem_encrypt_init, pci_iommu_init) and force_dma_unencrypted();
 *   3. the ABI exports, which turn dmacheck's arguments (device indexes,
 *      pfns, 64-bit kernel addresses, struct dmacheck_sg arrays) into the
 *      kernel's (struct device *, struct page *, pointers, scatterlists) and
 *      back.
 *
 * Departures from a real kernel are listed in kernel-wasm/README.md.
 */
#include <linux/types.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/gfp.h>
#include <linux/slab.h>
#include <linux/memblock.h>
#include <linux/set_memory.h>
#include <linux/cc_platform.h>
#include <linux/scatterlist.h>
#include <linux/swiotlb.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-direct.h>
#include <linux/io.h>
#include <linux/workqueue.h>
#include <linux/genalloc.h>
#include <kernel/dma/direct.h>

/* ======================================================================
 * 1. Shim runtime
 * ====================================================================== */

static struct dmacheck_platform_info plat;
static int pin_windows; /* windows made while booting (or growing a pool) stay for good */
static u32 call_stamp;  /* bumped at every ABI call */

unsigned long max_pfn, min_low_pfn, max_low_pfn, max_possible_pfn;

/* ---- kernel virtual addresses: 63 windows of 32 MiB ---- */

#define KSHIM_WIN_SHIFT 25
#define KSHIM_WIN_SIZE (1ULL << KSHIM_WIN_SHIFT)
#define KSHIM_NWIN 63 /* the last 32 MiB of the pointer space stay unused: ERR_PTR values live there */

static struct {
	u64 base; /* kernel virtual address of the window's first byte, 32 MiB-aligned */
	u32 stamp;
	u8 used;
	u8 pinned;
} win[KSHIM_NWIN];
static u32 next_victim;

/*
 * The pointer for kernel virtual address `kva`. Windows are aligned and do
 * not overlap, so every address has one pointer at a time, and a pointer
 * the kernel keeps (the swiotlb pool's vaddr) stays valid: boot windows are
 * never reused (nor those made while a pool grows: genalloc keeps their
 * addresses). Every object the DMA code walks (a buddy block of at most
 * 4 MiB, naturally aligned) lies inside one window.
 */
void *kshim_ptr(u64 kva)
{
	u64 base = kva & ~(KSHIM_WIN_SIZE - 1);
	u32 i, free_slot = KSHIM_NWIN;

	for (i = 0; i < KSHIM_NWIN; i++) {
		if (win[i].used && win[i].base == base) {
			if (!win[i].pinned)
				win[i].stamp = call_stamp;
			return (void *)(unsigned long)(KSHIM_KVA_PTR_BASE + (i << KSHIM_WIN_SHIFT) + (u32)(kva - base));
		}
		if (!win[i].used && free_slot == KSHIM_NWIN)
			free_slot = i;
	}
	if (free_slot == KSHIM_NWIN) {
		/* Reuse a window no pointer of this call can still be in (the kernel keeps none across calls but the boot ones). */
		for (i = 0; i < KSHIM_NWIN; i++) {
			u32 v = (next_victim + i) % KSHIM_NWIN;
			if (!win[v].pinned && win[v].stamp != call_stamp) {
				free_slot = v;
				next_victim = v + 1;
				break;
			}
		}
		if (free_slot == KSHIM_NWIN)
			kshim_unreachable("kshim_ptr: every kernel address window is in use by this call");
	}
	win[free_slot].base = base;
	win[free_slot].used = 1;
	win[free_slot].pinned = (u8)pin_windows;
	win[free_slot].stamp = call_stamp;
	return (void *)(unsigned long)(KSHIM_KVA_PTR_BASE + (free_slot << KSHIM_WIN_SHIFT) + (u32)(kva - base));
}

/* The kernel virtual address a pointer stands for; a pointer that is not one traps (an oops, as the access would). */
u64 kshim_kva(const volatile void *p)
{
	unsigned long v = (unsigned long)p;
	u32 i;

	if (v < KSHIM_KVA_PTR_BASE)
		kshim_unreachable(v >= KSHIM_PAGE_PTR_BASE ? "a struct page handle was used as a kernel address"
							   : "the module's own memory was used as a kernel address");
	i = (u32)(v - KSHIM_KVA_PTR_BASE) >> KSHIM_WIN_SHIFT;
	if (i >= KSHIM_NWIN || !win[i].used)
		kshim_unreachable("a pointer into no kernel address window");
	return win[i].base + (v & (KSHIM_WIN_SIZE - 1));
}

/* ---- struct page handles ---- */

#define KSHIM_MAX_PFN ((KSHIM_KVA_PTR_BASE - KSHIM_PAGE_PTR_BASE) / sizeof(struct page))

struct page *kshim_pfn_to_page(u64 pfn)
{
	/* x86-64's vmemmap has a struct page for every pfn the machine can have; a wilder pfn is an oops. */
	if (pfn >= KSHIM_MAX_PFN)
		kshim_unreachable("pfn_to_page: pfn beyond any memory");
	return (struct page *)(unsigned long)(KSHIM_PAGE_PTR_BASE + pfn * sizeof(struct page));
}

u64 kshim_page_to_pfn(const struct page *page)
{
	if (!kshim_is_page_ptr(page))
		kshim_unreachable("page_to_pfn: not a struct page");
	return ((unsigned long)page - KSHIM_PAGE_PTR_BASE) / sizeof(struct page);
}

struct page *kshim_alloc_pages(unsigned int gfp, unsigned int order)
{
	s64 pfn = dmacheck_alloc_pages(gfp, order);
	return pfn < 0 ? NULL : kshim_pfn_to_page((u64)pfn);
}

void kshim_free_pages(struct page *page, unsigned int order)
{
	dmacheck_free_pages(kshim_page_to_pfn(page), order);
}

unsigned long __get_free_pages(gfp_t gfp, unsigned int order)
{
	struct page *page = alloc_pages(gfp, order);
	return page ? (unsigned long)page_address(page) : 0;
}

void free_pages(unsigned long addr, unsigned int order)
{
	if (addr != 0)
		__free_pages(virt_to_page((void *)addr), order);
}

/* ---- the module's heap: the kernel's own bookkeeping ---- */

#define KSHIM_HEAP_BYTES (512 * 1024)
static u8 heap[KSHIM_HEAP_BYTES] __attribute__((aligned(16)));

struct heap_block {
	u32 size; /* bytes after the header */
	u32 free;
	u64 pad;
};

static u32 heap_top;

void *kshim_heap_alloc(unsigned long size, int zero)
{
	u32 at = 0, need = (u32)((size + 15) & ~15UL);
	struct heap_block *b;

	if (size > KSHIM_HEAP_BYTES)
		return NULL;
	while (at < heap_top) {
		b = (struct heap_block *)(heap + at);
		if (b->free && b->size >= need)
			goto found;
		at += sizeof(*b) + b->size;
	}
	if (heap_top + sizeof(*b) + need > KSHIM_HEAP_BYTES)
		return NULL;
	b = (struct heap_block *)(heap + heap_top);
	b->size = need;
	heap_top += sizeof(*b) + need;
found:
	b->free = 0;
	if (zero)
		memset(b + 1, 0, b->size);
	return b + 1;
}

void kshim_heap_free(void *p)
{
	if (p != NULL)
		((struct heap_block *)p - 1)->free = 1;
}

/* ---- memblock (see linux/memblock.h) ---- */

void *memblock_alloc(phys_addr_t size, phys_addr_t align)
{
	(void)align;
	return kshim_heap_alloc((unsigned long)size, 1);
}

void *memblock_alloc_low(phys_addr_t size, phys_addr_t align)
{
	struct page *page;
	void *p;

	(void)align; /* whole pages, so page-aligned */
	page = alloc_pages(GFP_KERNEL | __GFP_DMA32 | __GFP_NOWARN, get_order(size));
	if (!page)
		return NULL;
	p = page_address(page);
	memset(p, 0, size);
	return p;
}

void memblock_free(void *ptr, size_t size)
{
	if (kshim_is_kva(ptr))
		__free_pages(virt_to_page(ptr), get_order(size));
	else
		kshim_heap_free(ptr);
}

void memblock_free_late(phys_addr_t base, phys_addr_t size)
{
	(void)base, (void)size;
	kshim_unreachable("memblock_free_late (swiotlb_exit is never called)");
}

void *memremap(resource_size_t offset, size_t size, unsigned long flags)
{
	(void)offset, (void)size, (void)flags;
	kshim_unreachable("memremap (swiotlb_unencrypted_base is never set)");
}

/* ---- memory: the module's own, or the machine's through the simulated CPU ---- */

void *memcpy(void *dst, const void *src, size_t n)
{
	if (n == 0)
		return dst;
	if (kshim_is_kva(dst) && kshim_is_kva(src)) {
#ifdef KSHIM_MUTANT_COPY_SHORT
		n--; /* a mutant for the test: every machine-to-machine copy (swiotlb_bounce's) one byte short */
#endif
		dmacheck_cpu_memcpy(kshim_kva(dst), kshim_kva(src), n);
	} else if (kshim_is_kva(dst)) {
		dmacheck_cpu_write(kshim_kva(dst), src, n);
	} else if (kshim_is_kva(src)) {
		dmacheck_cpu_read(kshim_kva(src), dst, n);
	} else {
		u8 *d = dst;
		const u8 *s = src;
		while (n--)
			*d++ = *s++;
	}
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	u8 *d = dst;
	const u8 *s = src;

	if (kshim_is_kva(dst) || kshim_is_kva(src) || d <= s || d >= s + n)
		return memcpy(dst, src, n);
	while (n--)
		d[n] = s[n];
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	if (kshim_is_kva(dst)) {
		if (n)
			dmacheck_cpu_memset(kshim_kva(dst), (u32)c & 0xff, n);
	} else {
		u8 *d = dst;
		while (n--)
			*d++ = (u8)c;
	}
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const u8 *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (u8)*a - (u8)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (u8)*a - (u8)*b;
		if (!*a)
			break;
	}
	return 0;
}

unsigned long long simple_strtoull(const char *cp, char **endp, unsigned int base)
{
	unsigned long long v = 0;

	if (base == 0) {
		base = 10;
		if (cp[0] == '0') {
			base = 8;
			if (tolower(cp[1]) == 'x' && isxdigit(cp[2])) {
				base = 16;
				cp += 2;
			}
		}
	} else if (base == 16 && cp[0] == '0' && tolower(cp[1]) == 'x') {
		cp += 2;
	}
	for (;; cp++) {
		unsigned int d;
		if (isdigit(*cp))
			d = *cp - '0';
		else if (tolower(*cp) >= 'a' && tolower(*cp) <= 'f')
			d = tolower(*cp) - 'a' + 10;
		else
			break;
		if (d >= base)
			break;
		v = v * base + d;
	}
	if (endp)
		*endp = (char *)cp;
	return v;
}

unsigned long simple_strtoul(const char *cp, char **endp, unsigned int base)
{
	return (unsigned long)simple_strtoull(cp, endp, base);
}

/* a size with an optional K, M or G suffix */
unsigned long long memparse(const char *ptr, char **retptr)
{
	char *end;
	unsigned long long v = simple_strtoull(ptr, &end, 0);

	switch (*end) {
	case 'G':
	case 'g':
		v <<= 10;
		fallthrough;
	case 'M':
	case 'm':
		v <<= 10;
		fallthrough;
	case 'K':
	case 'k':
		v <<= 10;
		end++;
		break;
	default:
		break;
	}
	if (retptr)
		*retptr = end;
	return v;
}

/* ---- printk ---- */

struct out {
	char *buf;
	u32 len, cap;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->cap)
		o->buf[o->len++] = c;
}

static void put_str(struct out *o, const char *s)
{
	if (!s)
		s = "(null)";
	while (*s)
		put(o, *s++);
}

static void put_num(struct out *o, u64 v, unsigned int base, int neg, int width, char pad, int upper)
{
	char tmp[24];
	int n = 0;
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	while (n < width--)
		put(o, pad);
	while (n)
		put(o, tmp[--n]);
}

/* The printk subset the DMA code uses: %[0][width][hh|h|l|ll|z]{d,i,u,x,X,c,s,p,%}, %pa[p] (phys_addr_t *), %pad (dma_addr_t *). */
static void kshim_vformat(struct out *o, const char *fmt, __builtin_va_list ap)
{
	for (; *fmt; fmt++) {
		int width = 0, lng = 0, sz = 0;
		char pad = ' ';
		u64 v;

		if (*fmt != '%') {
			put(o, *fmt);
			continue;
		}
		fmt++;
		if (*fmt == '%') {
			put(o, '%');
			continue;
		}
		if (*fmt == '0')
			pad = '0', fmt++;
		while (isdigit(*fmt))
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l')
			lng++, fmt++;
		while (*fmt == 'h')
			fmt++;
		if (*fmt == 'z')
			sz = 1, fmt++;
		switch (*fmt) {
		case 'd':
		case 'i': {
			s64 s = lng >= 2 ? __builtin_va_arg(ap, long long) : lng == 1 ? __builtin_va_arg(ap, long) : sz ? __builtin_va_arg(ap, ssize_t) : __builtin_va_arg(ap, int);
			put_num(o, s < 0 ? (u64)-s : (u64)s, 10, s < 0, width, pad, 0);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
			v = lng >= 2 ? __builtin_va_arg(ap, unsigned long long) : lng == 1 ? __builtin_va_arg(ap, unsigned long) : sz ? __builtin_va_arg(ap, size_t) : __builtin_va_arg(ap, unsigned int);
			put_num(o, v, *fmt == 'u' ? 10 : 16, 0, width, pad, *fmt == 'X');
			break;
		case 'c':
			put(o, (char)__builtin_va_arg(ap, int));
			break;
		case 's':
			put_str(o, __builtin_va_arg(ap, const char *));
			break;
		case 'p': {
			void *p = __builtin_va_arg(ap, void *);
			if (fmt[1] == 'a') {
				fmt++;
				if (fmt[1] == 'd' || fmt[1] == 'p')
					fmt++;
				put_str(o, "0x");
				put_num(o, *(u64 *)p, 16, 0, 16, '0', 0);
			} else {
				while (fmt[1] && ((fmt[1] >= 'a' && fmt[1] <= 'z') || (fmt[1] >= 'A' && fmt[1] <= 'Z')))
					fmt++; /* %pGg and friends: print the pointer */
				put_str(o, "0x");
				put_num(o, kshim_is_kva(p) ? kshim_kva(p) : (unsigned long)p, 16, 0, 0, ' ', 0);
			}
			break;
		}
		default:
			put(o, '%');
			if (*fmt)
				put(o, *fmt);
			else
				fmt--;
		}
	}
}

static char logbuf[512];

static void emit(int level, struct out *o)
{
	u32 n = o->len;
	while (n && o->buf[n - 1] == '\n')
		n--;
	dmacheck_printk((u32)level, o->buf, n);
}

void kshim_printk(int level, const char *fmt, ...)
{
	struct out o = { logbuf, 0, sizeof(logbuf) };
	__builtin_va_list ap;

	__builtin_va_start(ap, fmt);
	kshim_vformat(&o, fmt, ap);
	__builtin_va_end(ap);
	emit(level, &o);
}

void kshim_dev_printk(int level, const void *dev, const char *fmt, ...)
{
	struct out o = { logbuf, 0, sizeof(logbuf) };
	__builtin_va_list ap;

	put_str(&o, dev ? dev_name((const struct device *)dev) : "(NULL device *)");
	put_str(&o, ": ");
	__builtin_va_start(ap, fmt);
	kshim_vformat(&o, fmt, ap);
	__builtin_va_end(ap);
	emit(level, &o);
}

static void log_at(int level, const char *what, const char *file, int line)
{
	kshim_printk(level, "%s at %s:%d", what, file, line);
}

/* BUG(): the kernel oopses; here the call traps, which dmacheck reports as an oops at the step. */
void kshim_bug(const char *file, int line)
{
	log_at(0, "kernel BUG", file, line);
	__builtin_trap();
}

void kshim_warn(const char *file, int line)
{
	log_at(1, "WARNING: CPU: 0 PID: 0", file, line);
}

/* Something the shim cannot do, or that this configuration never reaches: say what, then trap (an oops). */
void kshim_unreachable(const char *what)
{
	kshim_printk(0, "kernel-wasm shim: %s", what);
	__builtin_trap();
}

/* ---- deferred work (linux/workqueue.h) ---- */

static struct work_struct *pending_work[4];

bool schedule_work(struct work_struct *work)
{
	u32 i;

	if (work->pending)
		return false;
	for (i = 0; i < 4; i++) {
		if (!pending_work[i]) {
			pending_work[i] = work;
			work->pending = true;
			return true;
		}
	}
	kshim_unreachable("schedule_work: queue full");
}

/* The worker: run what is pending, oldest first, in a context that may sleep. */
static void run_pending_work(void)
{
	u32 i;

	pin_windows++;
	for (i = 0; i < 4; i++) {
		struct work_struct *w = pending_work[i];
		if (w) {
			pending_work[i] = NULL;
			w->pending = false;
			w->func(w);
		}
	}
	pin_windows--;
}

/* ---- gen_pool: the harness's (kernel-wasm/include/linux/genalloc.h) ---- */

static struct gen_pool gen_pools[4];
static int nr_gen_pools;

unsigned long gen_pool_first_fit(unsigned long *map, unsigned long size, unsigned long start, unsigned int nr,
				 void *data, struct gen_pool *pool, unsigned long start_addr)
{
	return 0; /* never called: only its address names the algorithm */
}

unsigned long gen_pool_first_fit_order_align(unsigned long *map, unsigned long size, unsigned long start,
					     unsigned int nr, void *data, struct gen_pool *pool,
					     unsigned long start_addr)
{
	return 0;
}

struct gen_pool *gen_pool_create(int min_alloc_order, int nid)
{
	/* kernel/dma/pool.c creates them in this order (dma_atomic_pool_init) */
	static const char *const names[] = { "atomic_pool_kernel", "atomic_pool_dma32", "atomic_pool_dma", "gen_pool" };
	const char *name;
	size_t len = 0;
	s32 id;

	(void)nid;
	if (nr_gen_pools == ARRAY_SIZE(gen_pools))
		return NULL;
	name = names[nr_gen_pools < 3 ? nr_gen_pools : 3];
	while (name[len])
		len++;
	id = dmacheck_gen_pool_create((u32)min_alloc_order, name, (u32)len);
	if (id < 0)
		return NULL;
	gen_pools[nr_gen_pools].id = id;
	return &gen_pools[nr_gen_pools++];
}

void gen_pool_destroy(struct gen_pool *pool)
{
	pool->id = -1; /* the harness keeps an empty pool; nothing uses it again */
}

void gen_pool_set_algo(struct gen_pool *pool, genpool_algo_t algo, void *data)
{
	(void)data;
	dmacheck_gen_pool_set_algo(pool->id, algo == gen_pool_first_fit_order_align ? 1 : 0);
}

/* ---- user mappings, sg tables ---- */

int remap_pfn_range(struct vm_area_struct *vma, unsigned long addr, unsigned long pfn, unsigned long size, pgprot_t prot)
{
	return dmacheck_remap_pfn_range(vma->kshim_vma, (u32)((addr - vma->vm_start) >> PAGE_SHIFT), pfn,
					(u32)(size >> PAGE_SHIFT), (u32)pgprot_val(prot));
}

int sg_alloc_table(struct sg_table *table, unsigned int nents, gfp_t gfp_mask)
{
	memset(table, 0, sizeof(*table));
	if (nents == 0)
		return -EINVAL;
	table->sgl = kmalloc_array(nents, sizeof(struct scatterlist), gfp_mask);
	if (!table->sgl)
		return -ENOMEM;
	sg_init_table(table->sgl, nents);
	table->nents = table->orig_nents = nents;
	return 0;
}

void sg_free_table(struct sg_table *table)
{
	kfree(table->sgl);
	table->sgl = NULL;
}

/* ======================================================================
 * 2. What kernel/dma/mapping.c and arch/x86 contribute
 * ====================================================================== */

/* include/linux/cc_platform.h: a mem_encrypt machine is an encrypted guest. */
bool cc_platform_has(enum cc_attr attr)
{
	switch (attr) {
	case CC_ATTR_MEM_ENCRYPT:
	case CC_ATTR_GUEST_MEM_ENCRYPT:
		return plat.mem_encrypt != 0;
	default:
		return false;
	}
}

/* arch/x86/mm/mem_encrypt.c: every DMA of an encrypted guest goes to shared memory (no SME host here). */
bool force_dma_unencrypted(struct device *dev)
{
	(void)dev;
	return cc_platform_has(CC_ATTR_GUEST_MEM_ENCRYPT);
}

/* kernel/dma/mapping.c, dma-direct only (get_dma_ops() is NULL): */

u64 dma_get_required_mask(struct device *dev)
{
	return dma_direct_get_required_mask(dev);
}

pgprot_t dma_pgprot(struct device *dev, pgprot_t prot, unsigned long attrs)
{
	(void)attrs;
	if (dev_is_dma_coherent(dev))
		return prot;
	return pgprot_dmacoherent(prot); /* x86 has no ARCH_HAS_DMA_WRITE_COMBINE */
}

int dma_set_mask(struct device *dev, u64 mask)
{
	mask = (dma_addr_t)mask;
	if (!dev->dma_mask || !dma_direct_supported(dev, mask))
		return -EIO;
	*dev->dma_mask = mask;
	return 0;
}

int dma_set_coherent_mask(struct device *dev, u64 mask)
{
	mask = (dma_addr_t)mask;
	if (!dma_direct_supported(dev, mask))
		return -EIO;
	dev->coherent_dma_mask = mask;
	return 0;
}

void *dma_alloc_attrs(struct device *dev, size_t size, dma_addr_t *dma_handle, gfp_t flag, unsigned long attrs)
{
	WARN_ON_ONCE(!dev->coherent_dma_mask);
	/* let the implementation decide on the zone to allocate from */
	flag &= ~(__GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM);
	return dma_direct_alloc(dev, size, dma_handle, flag, attrs);
}

void dma_free_attrs(struct device *dev, size_t size, void *cpu_addr, dma_addr_t dma_handle, unsigned long attrs)
{
	if (!cpu_addr)
		return;
	dma_direct_free(dev, size, cpu_addr, dma_handle, attrs);
}

dma_addr_t dma_map_page_attrs(struct device *dev, struct page *page, size_t offset, size_t size,
			      enum dma_data_direction dir, unsigned long attrs)
{
	BUG_ON(!valid_dma_direction(dir));
	if (WARN_ON_ONCE(!dev->dma_mask))
		return DMA_MAPPING_ERROR;
	return dma_direct_map_page(dev, page, offset, size, dir, attrs);
}

void dma_unmap_page_attrs(struct device *dev, dma_addr_t addr, size_t size, enum dma_data_direction dir,
			  unsigned long attrs)
{
	BUG_ON(!valid_dma_direction(dir));
	dma_direct_unmap_page(dev, addr, size, dir, attrs);
}

unsigned int dma_map_sg_attrs(struct device *dev, struct scatterlist *sg, int nents, enum dma_data_direction dir,
			      unsigned long attrs)
{
	int ents;

	BUG_ON(!valid_dma_direction(dir));
	if (WARN_ON_ONCE(!dev->dma_mask))
		return 0;
	ents = dma_direct_map_sg(dev, sg, nents, dir, attrs);
	if (ents < 0 && WARN_ON_ONCE(ents != -EINVAL && ents != -ENOMEM && ents != -EIO && ents != -EREMOTEIO))
		ents = -EIO;
	return ents < 0 ? 0 : (unsigned int)ents;
}

void dma_unmap_sg_attrs(struct device *dev, struct scatterlist *sg, int nents, enum dma_data_direction dir,
			unsigned long attrs)
{
	BUG_ON(!valid_dma_direction(dir));
	dma_direct_unmap_sg(dev, sg, nents, dir, attrs);
}

void dma_sync_single_for_cpu(struct device *dev, dma_addr_t addr, size_t size, enum dma_data_direction dir)
{
	BUG_ON(!valid_dma_direction(dir));
	dma_direct_sync_single_for_cpu(dev, addr, size, dir);
}

void dma_sync_single_for_device(struct device *dev, dma_addr_t addr, size_t size, enum dma_data_direction dir)
{
	BUG_ON(!valid_dma_direction(dir));
	dma_direct_sync_single_for_device(dev, addr, size, dir);
}

void dma_sync_sg_for_cpu(struct device *dev, struct scatterlist *sg, int nelems, enum dma_data_direction dir)
{
	BUG_ON(!valid_dma_direction(dir));
	dma_direct_sync_sg_for_cpu(dev, sg, nelems, dir);
}

void dma_sync_sg_for_device(struct device *dev, struct scatterlist *sg, int nelems, enum dma_data_direction dir)
{
	BUG_ON(!valid_dma_direction(dir));
	dma_direct_sync_sg_for_device(dev, sg, nelems, dir);
}

int dma_get_sgtable_attrs(struct device *dev, struct sg_table *sgt, void *cpu_addr, dma_addr_t dma_addr, size_t size,
			  unsigned long attrs)
{
	return dma_direct_get_sgtable(dev, sgt, cpu_addr, dma_addr, size, attrs);
}

int dma_mmap_attrs(struct device *dev, struct vm_area_struct *vma, void *cpu_addr, dma_addr_t dma_addr, size_t size,
		   unsigned long attrs)
{
	return dma_direct_mmap(dev, vma, cpu_addr, dma_addr, size, attrs);
}

bool dma_can_mmap(struct device *dev)
{
	return dma_direct_can_mmap(dev);
}

size_t dma_max_mapping_size(struct device *dev)
{
	return dma_direct_max_mapping_size(dev);
}

bool dma_need_sync(struct device *dev, dma_addr_t dma_addr)
{
	return dma_direct_need_sync(dev, dma_addr);
}

/* ---- boot: arch/x86/kernel/pci-dma.c and arch/x86/mm/mem_encrypt.c, in the kernel's order ---- */

extern int (*const kshim_early_param_setup_io_tlb_npages)(char *);
#ifdef KSHIM_CC_GUEST
extern int (*const kshim_early_param_early_coherent_pool)(char *);
extern int (*const kshim_initcall_dma_atomic_pool_init)(void);
#endif

#define MAX_DMA32_PFN (1UL << (32 - PAGE_SHIFT))

static int boot_state; /* 0 not yet, 1 up, -1 refused */
static u64 ram_bytes;  /* the sum of the profile's RAM banks */

unsigned long totalram_pages(void)
{
	return (unsigned long)(ram_bytes >> PAGE_SHIFT);
}

static int kshim_boot(void)
{
	/* The machine's command line (swiotlb=, coherent_pool=), split in place into its options. */
	static char cmdline[128];
	char *p, *end;
	u32 len;
	bool swiotlb_enable;
	unsigned int swiotlb_flags = 0;
	u32 i;

	dmacheck_platform_info(&plat);
	if (plat.arch != 0) {
		kshim_printk(0, "kernel-wasm: this build is the x86-64 kernel; the platform is not x86-64");
		return -ENODEV;
	}
#ifdef KSHIM_CC_GUEST
	if (!plat.mem_encrypt) {
		kshim_printk(0, "kernel-wasm: this is the cc-guest build; the platform does not encrypt memory");
		return -ENODEV;
	}
	/* CC_GUEST's RAM (src/platform/profiles.ts): [1 MiB, 2 GiB) and [4 GiB, 6 GiB) */
	if (plat.ram_start != 0x100000ULL || plat.ram_end != 0x180000000ULL) {
		kshim_printk(0, "kernel-wasm: the RAM is not the cc-guest profile's (totalram_pages would be wrong)");
		return -ENODEV;
	}
	ram_bytes = (0x80000000ULL - 0x100000ULL) + 0x80000000ULL;
#else
	if (plat.mem_encrypt) {
		kshim_printk(0, "kernel-wasm: this is the x86-64 build; use build/kernel-swiotlb-cc.wasm for an encrypted guest");
		return -ENODEV;
	}
	ram_bytes = plat.ram_end - plat.ram_start; /* only the atomic pools' sizing reads it, and they are not built here */
#endif
	if (__builtin_wasm_memory_size(0) * 65536UL > KSHIM_PAGE_PTR_BASE)
		kshim_unreachable("module memory overlaps the struct page handles");
	max_pfn = (unsigned long)(plat.ram_end >> PAGE_SHIFT);
	max_possible_pfn = max_pfn;
	max_low_pfn = min(max_pfn, MAX_DMA32_PFN);
	min_low_pfn = 0;
	/* The linear map must be x86-64's PAGE_OFFSET + phys (kshim's __va). */
	if (dmacheck_page_address(plat.ram_start >> PAGE_SHIFT) != KSHIM_PAGE_OFFSET + (plat.ram_start & PAGE_MASK)) {
		kshim_printk(0, "kernel-wasm: the machine's linear map is not at the x86-64 PAGE_OFFSET");
		return -ENODEV;
	}

	pin_windows = 1;
	len = dmacheck_cmdline(cmdline, sizeof(cmdline) - 1);
	cmdline[min_t(u32, len, sizeof(cmdline) - 1)] = 0;
	kshim_printk(2, "Kernel command line: %s", cmdline);
	/* parse_early_param(): each option to its early_param() handler */
	for (p = cmdline; *p; p = end) {
		for (end = p; *end && *end != ' '; end++)
			;
		if (*end)
			*end++ = 0;
		if (!strncmp(p, "swiotlb=", 8))
			kshim_early_param_setup_io_tlb_npages(p + 8);
#ifdef KSHIM_CC_GUEST
		else if (!strncmp(p, "coherent_pool=", 14))
			kshim_early_param_early_coherent_pool(p + 14);
#endif
	}

	/* pci_swiotlb_detect() */
	swiotlb_enable = max_possible_pfn > MAX_DMA32_PFN;
	if (cc_platform_has(CC_ATTR_GUEST_MEM_ENCRYPT)) {
		swiotlb_enable = true;
		swiotlb_flags |= SWIOTLB_FORCE;
	}
	/* pci_iommu_alloc() */
	swiotlb_init(swiotlb_enable, swiotlb_flags);
	/* mem_encrypt_init() */
	if (cc_platform_has(CC_ATTR_MEM_ENCRYPT))
		swiotlb_update_mem_attributes();
#ifdef KSHIM_CC_GUEST
	/* postcore_initcall(dma_atomic_pool_init) */
	kshim_initcall_dma_atomic_pool_init();
#endif
	/* pci_iommu_init() */
	if (swiotlb_enable) {
		pr_info("PCI-DMA: Using software bounce buffering for IO (SWIOTLB)\n");
		swiotlb_print_info();
	}
	pin_windows = 0;
	return 0;
}

/* ======================================================================
 * 3. The ABI
 * ====================================================================== */

#define MAX_DEVICES 16
#define MAX_SG 5120

struct kdev {
	struct device dev;
	struct device_dma_parameters parms;
	u64 dma_mask; /* what dev.dma_mask points at (struct pci_dev's dma_mask) */
	struct bus_dma_region map[5];
	char name[12];
	int attached;
};

static struct kdev kdevs[MAX_DEVICES];
static u8 scratch[MAX_SG * sizeof(struct dmacheck_sg)] __attribute__((aligned(16)));
static struct scatterlist sgbuf[MAX_SG];

#define KSHIM_ATTRS (DMA_ATTR_WEAK_ORDERING | DMA_ATTR_WRITE_COMBINE | DMA_ATTR_NO_KERNEL_MAPPING | DMA_ATTR_SKIP_CPU_SYNC | \
		     DMA_ATTR_FORCE_CONTIGUOUS | DMA_ATTR_NO_WARN | DMA_ATTR_PRIVILEGED)
#define KSHIM_ATTRS_NUM 886 /* KSHIM_ATTRS, spelled out for the JSON */
_Static_assert(KSHIM_ATTRS_NUM == KSHIM_ATTRS, "KSHIM_ATTRS_NUM");
#define STR_(x) #x
#define STR(x) STR_(x)

static const char caps[] =
	"{\"name\":\"linux-6.1-swiotlb\",\"calls\":[\"attachDevice\",\"setMask\",\"setCoherentMask\",\"setMaskAndCoherent\","
	"\"allocAttrs\",\"freeAttrs\",\"mmapAttrs\",\"getSgtableAttrs\",\"mapPage\",\"unmapPage\",\"mapSingle\","
	"\"unmapSingle\",\"mapSg\",\"unmapSg\",\"syncSingleForCpu\",\"syncSingleForDevice\",\"syncSgForCpu\","
	"\"syncSgForDevice\",\"mappingError\",\"maxMappingSize\",\"getCacheAlignment\",\"needSync\",\"canMmap\"],"
	"\"attrs\":" STR(KSHIM_ATTRS_NUM) ","
#ifdef KSHIM_CC_GUEST
	"\"profiles\":[\"cc-guest\"],"
#else
	"\"profiles\":[\"x86-64\"],"
#endif
	"\"levels\":[\"contract\",\"linux\"],\"kernel\":\"6.1\"}";

DMACHECK_EXPORT(dmacheck_abi_version) u32 abi_version(void) { return DMACHECK_ABI_VERSION; }
DMACHECK_EXPORT(dmacheck_capabilities) const char *abi_capabilities(void) { return caps; }
DMACHECK_EXPORT(dmacheck_scratch) void *abi_scratch(u32 bytes)
{
	if (bytes > sizeof(scratch))
		kshim_unreachable("dmacheck_scratch: more than the scratch buffer holds");
	return scratch;
}

static struct device *dev_of(u32 i)
{
	call_stamp++;
	if (i >= MAX_DEVICES || !kdevs[i].attached)
		kshim_unreachable("a call for a device that is not attached");
	return &kdevs[i].dev;
}

/* A host value handed in as a CPU address: a struct page cookie (NO_KERNEL_MAPPING) as it was handed out, else a kernel address. */
static void *cpu_ptr(u64 v)
{
	if (v == 0)
		return NULL;
	if (v >= KSHIM_PAGE_PTR_BASE && v < KSHIM_KVA_PTR_BASE)
		return (void *)(unsigned long)v;
	return kshim_ptr(v);
}

static u64 cpu_val(void *p)
{
	if (p == NULL)
		return 0;
	return kshim_is_kva(p) ? kshim_kva(p) : (u64)(unsigned long)p;
}

/* wasm32 has a 32-bit size_t: larger sizes cannot be passed to the kernel code (README: wasm32 widths). */
static int size_ok(u64 size)
{
	return size <= SIZE_MAX;
}

DMACHECK_EXPORT(dma_attach) s32 abi_attach(u32 i)
{
	struct dmacheck_dev_info info;
	struct kdev *k;
	u32 r;

	call_stamp++;
	if (boot_state == 0)
		boot_state = kshim_boot() == 0 ? 1 : -1;
	if (boot_state < 0 || i >= MAX_DEVICES || i >= plat.ndevices)
		return -ENODEV;
	k = &kdevs[i];
	if (k->attached)
		return -EBUSY;
	dmacheck_dev_info(i, &info);
	/* x86 DMA is cache-coherent; per-device reserved-memory pools are a DT feature this build leaves out. */
	if (!info.coherent || info.restricted_pool_size || info.coherent_pool_size) {
		kshim_printk(1, "kernel-wasm: device %u needs what x86 does not have (non-coherent DMA or a DT reserved-memory pool)", i);
		return -ENODEV;
	}
	memset(k, 0, sizeof(*k));
	k->name[0] = 'd', k->name[1] = 'e', k->name[2] = 'v';
	k->name[3] = (char)('0' + i / 10), k->name[4] = (char)('0' + i % 10), k->name[5] = 0;
	k->dev.init_name = k->name;
	k->dev.numa_node = NUMA_NO_NODE;
	/* pci_setup_device(): 32-bit masks */
	k->dma_mask = DMA_BIT_MASK(32);
	k->dev.dma_mask = &k->dma_mask;
	k->dev.coherent_dma_mask = DMA_BIT_MASK(32);
	k->dev.bus_dma_limit = info.bus_dma_limit;
	k->dev.dma_coherent = true;
	/* dma_parms (pci_dev->dma_parms) */
	k->parms.max_segment_size = info.max_segment_size;
	k->parms.min_align_mask = info.min_align_mask;
	k->parms.segment_boundary_mask = info.segment_boundary_mask > ULONG_MAX ? ULONG_MAX : (unsigned long)info.segment_boundary_mask;
	k->dev.dma_parms = &k->parms;
	/* dma-ranges (of_dma_get_range): a zero-size entry ends the map */
	if (info.nranges) {
		for (r = 0; r < info.nranges && r < 4; r++) {
			k->map[r].cpu_start = info.ranges[r].cpu_start;
			k->map[r].dma_start = info.ranges[r].dma_start;
			k->map[r].size = info.ranges[r].size;
			k->map[r].offset = info.ranges[r].cpu_start - info.ranges[r].dma_start;
		}
		k->dev.dma_range_map = k->map;
	}
	/* device_initialize(): swiotlb_dev_init */
	k->dev.dma_io_tlb_mem = &io_tlb_default_mem;
	k->attached = 1;
	return 0;
}

static u64 mask_of(u32 bits)
{
	return bits >= 64 ? ~0ULL : DMA_BIT_MASK(bits);
}

DMACHECK_EXPORT(dma_set_mask) s32 abi_set_mask(u32 i, u32 bits)
{
	return bits > 64 ? -EIO : dma_set_mask(dev_of(i), mask_of(bits));
}

DMACHECK_EXPORT(dma_set_coherent_mask) s32 abi_set_coherent_mask(u32 i, u32 bits)
{
	return bits > 64 ? -EIO : dma_set_coherent_mask(dev_of(i), mask_of(bits));
}

DMACHECK_EXPORT(dma_set_mask_and_coherent) s32 abi_set_mask_and_coherent(u32 i, u32 bits)
{
	return bits > 64 ? -EIO : dma_set_mask_and_coherent(dev_of(i), mask_of(bits));
}

DMACHECK_EXPORT(dma_alloc_attrs) u64 abi_alloc_attrs(u32 i, u64 size, u64 *dma_handle, u32 gfp, u32 attrs)
{
	struct device *dev = dev_of(i);
	dma_addr_t handle = DMA_MAPPING_ERROR;
	void *cpu;

	if (!size_ok(size))
		return 0;
	if (gfpflags_allow_blocking(gfp))
		run_pending_work();
	cpu = dma_alloc_attrs(dev, (size_t)size, &handle, gfp, attrs);
	*dma_handle = handle;
	return cpu_val(cpu);
}

DMACHECK_EXPORT(dma_free_attrs) void abi_free_attrs(u32 i, u64 size, u64 cpu_addr, u64 dma_handle, u32 attrs)
{
	struct device *dev = dev_of(i);

	if (size_ok(size))
		dma_free_attrs(dev, (size_t)size, cpu_ptr(cpu_addr), dma_handle, attrs);
}

DMACHECK_EXPORT(dma_mmap_attrs) s32 abi_mmap_attrs(u32 i, u32 vma_id, u64 cpu_addr, u64 dma_handle, u64 size, u32 attrs)
{
	struct device *dev = dev_of(i);
	struct vm_area_struct vma;

	if (!size_ok(size))
		return -ENXIO;
	memset(&vma, 0, sizeof(vma));
	vma.vm_start = 0x10000000UL; /* the user address is dmacheck's; only offsets from it matter */
	vma.vm_end = vma.vm_start + ((unsigned long)dmacheck_vma_pages(vma_id) << PAGE_SHIFT);
	vma.vm_pgoff = dmacheck_vma_pgoff(vma_id);
	vma.vm_page_prot = PAGE_SHARED;
	vma.kshim_vma = vma_id;
	return dma_mmap_attrs(dev, &vma, cpu_ptr(cpu_addr), dma_handle, (size_t)size, attrs);
}

DMACHECK_EXPORT(dma_get_sgtable_attrs) s32 abi_get_sgtable_attrs(u32 i, struct dmacheck_sg *out, u32 max_ents, u64 cpu_addr,
								  u64 dma_handle, u64 size, u32 attrs)
{
	struct device *dev = dev_of(i);
	struct sg_table sgt;
	struct scatterlist *sg;
	u32 n = 0;
	int ret;

	if (!size_ok(size))
		return -ENXIO;
	ret = dma_get_sgtable_attrs(dev, &sgt, cpu_ptr(cpu_addr), dma_handle, (size_t)size, attrs);
	if (ret)
		return ret;
	for (sg = sgt.sgl; sg && n < sgt.orig_nents; sg = sg_next(sg), n++) {
		if (n >= max_ents) {
			sg_free_table(&sgt);
			return -ENOMEM;
		}
		out[n].page = page_to_pfn(sg_page(sg));
		out[n].offset = sg->offset;
		out[n].length = sg->length;
	}
	sg_free_table(&sgt);
	return (s32)n;
}

DMACHECK_EXPORT(dma_map_page_attrs) u64 abi_map_page_attrs(u32 i, u64 pfn, u64 offset, u64 size, u32 dir, u32 attrs)
{
	struct device *dev = dev_of(i);

	if (!size_ok(size) || !size_ok(offset))
		return DMA_MAPPING_ERROR;
	return dma_map_page_attrs(dev, pfn_to_page(pfn), (size_t)offset, (size_t)size, dir, attrs);
}

DMACHECK_EXPORT(dma_unmap_page_attrs) void abi_unmap_page_attrs(u32 i, u64 addr, u64 size, u32 dir, u32 attrs)
{
	struct device *dev = dev_of(i);

	if (size_ok(size))
		dma_unmap_page_attrs(dev, addr, (size_t)size, dir, attrs);
}

DMACHECK_EXPORT(dma_map_single_attrs) u64 abi_map_single_attrs(u32 i, u64 kva, u64 size, u32 dir, u32 attrs)
{
	struct device *dev = dev_of(i);

	if (!size_ok(size))
		return DMA_MAPPING_ERROR;
	/* include/linux/dma-mapping.h's inline: refuses vmalloc memory, then maps virt_to_page(ptr) */
	return dma_map_single_attrs(dev, kshim_ptr(kva), (size_t)size, dir, attrs);
}

DMACHECK_EXPORT(dma_unmap_single_attrs) void abi_unmap_single_attrs(u32 i, u64 addr, u64 size, u32 dir, u32 attrs)
{
	struct device *dev = dev_of(i);

	if (size_ok(size))
		dma_unmap_single_attrs(dev, addr, (size_t)size, dir, attrs);
}

/* The ABI's entries as a kernel scatterlist (flat, end-marked). */
static struct scatterlist *sg_in(const struct dmacheck_sg *in, u32 nents)
{
	u32 n;

	if (nents > MAX_SG)
		kshim_unreachable("more scatterlist entries than the glue holds");
	sg_init_table(sgbuf, nents);
	for (n = 0; n < nents; n++) {
		sg_set_page(&sgbuf[n], pfn_to_page(in[n].page), in[n].length, in[n].offset);
		sgbuf[n].dma_address = in[n].dma_address;
		sgbuf[n].dma_length = in[n].dma_length;
	}
	return sgbuf;
}

DMACHECK_EXPORT(dma_map_sg_attrs) s32 abi_map_sg_attrs(u32 i, struct dmacheck_sg *sgl, u32 nents, u32 dir, u32 attrs)
{
	struct device *dev = dev_of(i);
	struct scatterlist *sg = sg_in(sgl, nents);
	unsigned int ret = dma_map_sg_attrs(dev, sg, (int)nents, dir, attrs);
	u32 n;

	for (n = 0; n < nents; n++) {
		sgl[n].dma_address = sg[n].dma_address;
		sgl[n].dma_length = sg[n].dma_length;
	}
	return (s32)ret;
}

DMACHECK_EXPORT(dma_unmap_sg_attrs) void abi_unmap_sg_attrs(u32 i, struct dmacheck_sg *sgl, u32 nents, u32 dir, u32 attrs)
{
	struct device *dev = dev_of(i);

	dma_unmap_sg_attrs(dev, sg_in(sgl, nents), (int)nents, dir, attrs);
}

DMACHECK_EXPORT(dma_sync_single_for_cpu) void abi_sync_single_for_cpu(u32 i, u64 addr, u64 size, u32 dir)
{
	struct device *dev = dev_of(i);

	if (size_ok(size))
		dma_sync_single_for_cpu(dev, addr, (size_t)size, dir);
}

DMACHECK_EXPORT(dma_sync_single_for_device) void abi_sync_single_for_device(u32 i, u64 addr, u64 size, u32 dir)
{
	struct device *dev = dev_of(i);

	if (size_ok(size))
		dma_sync_single_for_device(dev, addr, (size_t)size, dir);
}

DMACHECK_EXPORT(dma_sync_sg_for_cpu) void abi_sync_sg_for_cpu(u32 i, struct dmacheck_sg *sgl, u32 nents, u32 dir)
{
	struct device *dev = dev_of(i);

	dma_sync_sg_for_cpu(dev, sg_in(sgl, nents), (int)nents, dir);
}

DMACHECK_EXPORT(dma_sync_sg_for_device) void abi_sync_sg_for_device(u32 i, struct dmacheck_sg *sgl, u32 nents, u32 dir)
{
	struct device *dev = dev_of(i);

	dma_sync_sg_for_device(dev, sg_in(sgl, nents), (int)nents, dir);
}

DMACHECK_EXPORT(dma_mapping_error) s32 abi_mapping_error(u32 i, u64 addr)
{
	return dma_mapping_error(dev_of(i), addr);
}

DMACHECK_EXPORT(dma_max_mapping_size) u64 abi_max_mapping_size(u32 i)
{
	size_t s = dma_max_mapping_size(dev_of(i));
	/* SIZE_MAX is "no limit"; on wasm32 it is 32 bits wide, the ABI's is 64 */
	return s == SIZE_MAX ? ~0ULL : (u64)s;
}

DMACHECK_EXPORT(dma_get_cache_alignment) u32 abi_get_cache_alignment(u32 i)
{
	(void)dev_of(i);
	return (u32)dma_get_cache_alignment();
}

DMACHECK_EXPORT(dma_need_sync) u32 abi_need_sync(u32 i, u64 addr)
{
	return dma_need_sync(dev_of(i), addr);
}

DMACHECK_EXPORT(dma_can_mmap) u32 abi_can_mmap(u32 i)
{
	return dma_can_mmap(dev_of(i));
}
