// SPDX-License-Identifier: GPL-2.0
/*
 * dmacheck_kcheck: the kernel half of `dmacheck kernel-check`, the
 * differential run of dmacheck's driver steps against a real Linux kernel
 * booted in QEMU.
 *
 * Written for dmacheck (not taken from the kernel). The module registers
 * three platform devices with the DMA parameters of dmacheck's qemu-x86-64
 * profile, reads a binary stream of driver steps from /dev/dmacheck (see
 * src/conformance/differential.ts for the format), executes them with the
 * real DMA API, and hands back one record per step: whether the call
 * succeeded, the DMA address it returned, and the bytes a read saw. The
 * "device" reads and writes go to the memory a DMA address leads to: on an
 * x86 guest without memory encryption or an IOMMU the DMA address is the
 * physical address, so phys_to_virt() reaches it (with swiotlb=force, the
 * bounce slot).
 */
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/dma-mapping.h>
#include <linux/miscdevice.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/uaccess.h>
#include <linux/mm.h>
#include <linux/io.h>

#define KC_MAGIC 0x4b434d44u	/* "DMCK" */
#define KC_SEQ 0x31514553u	/* "SEQ1" */
#define KC_MAX_IDS 512
#define KC_MAX_SEGS 16
#define KC_MAX_ARGS 64

enum kc_op {
	OP_KMALLOC = 1, OP_KFREE, OP_ALLOC_PAGES, OP_FREE_PAGES, OP_DMA_ALLOC,
	OP_DMA_FREE, OP_MAP_SINGLE, OP_MAP_PAGE, OP_MAP_SG, OP_UNMAP,
	OP_SYNC_CPU, OP_SYNC_DEV, OP_CPU_WRITE, OP_CPU_READ, OP_DEV_WRITE,
	OP_DEV_READ, OP_WMB, OP_SET_MASK,
};

/* The gfp modifiers of a step, as dmacheck encodes them (its GFP_FLAGS order). */
static gfp_t kc_gfp(u64 bits)
{
	gfp_t g = 0;

	if (bits & 1)
		g |= __GFP_ZERO;
	if (bits & 2)
		g |= GFP_DMA;
	if (bits & 4)
		g |= GFP_DMA32;
	if (bits & 8)
		g |= __GFP_NOWARN;
	return g;
}

enum kc_status { ST_OK = 0, ST_FAILED = 1, ST_SKIPPED = 2 };

/* The devices of the qemu-x86-64 profile. */
struct kc_dev {
	const char *name;
	u64 mask;
	unsigned int min_align_mask;
	unsigned long seg_boundary;
	unsigned int max_seg_size;
	struct platform_device *pdev;
	struct device_dma_parameters parms;
};

static struct kc_dev kc_devs[] = {
	{ "dmacheck-nvme0", DMA_BIT_MASK(64), 0xfff, 0xffffffffUL, 0xffffffffU },
	{ "dmacheck-virtio0", DMA_BIT_MASK(64), 0, 0xffffffffUL, 65536 },
	{ "dmacheck-nic0", DMA_BIT_MASK(32), 0, 0xffffUL, 65536 },
};

enum kc_kind { K_NONE, K_KMALLOC, K_PAGES, K_COHERENT };

struct kc_obj {
	enum kc_kind kind;
	void *va;
	struct page *page;
	unsigned int order;
	size_t size;
	dma_addr_t handle;
	int dev;
};

enum kc_mkind { M_NONE, M_SINGLE, M_PAGE, M_SG };

struct kc_map {
	enum kc_mkind kind;
	int dev;
	int dir;
	dma_addr_t dma;
	size_t size;
	struct scatterlist sgl[KC_MAX_SEGS];
	int nents;
	int mapped;
	unsigned long attrs;
};

static struct kc_obj objs[KC_MAX_IDS];
static struct kc_map maps[KC_MAX_IDS];

static u8 *cmd_buf;
static size_t cmd_len, cmd_cap;
static u8 *res_buf;
static size_t res_len, res_cap;
static bool ran;

static int grow(u8 **buf, size_t *cap, size_t need)
{
	u8 *n;
	size_t c = *cap ? *cap : 65536;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	n = kvmalloc(c, GFP_KERNEL);
	if (!n)
		return -ENOMEM;
	if (*buf) {
		memcpy(n, *buf, *cap);
		kvfree(*buf);
	}
	*buf = n;
	*cap = c;
	return 0;
}

static void emit(const void *p, size_t n)
{
	if (grow(&res_buf, &res_cap, res_len + n))
		return;
	memcpy(res_buf + res_len, p, n);
	res_len += n;
}

/* One result record: step index, status, value, then len bytes padded to 4. */
static void record(u32 index, u32 status, u64 value, const void *data, u32 len)
{
	static const u8 zero[4];

	emit(&index, 4);
	emit(&status, 4);
	emit(&value, 8);
	emit(&len, 4);
	if (len) {
		emit(data, len);
		if (len & 3)
			emit(zero, 4 - (len & 3));
	}
}

/* The bytes dmacheck's pattern `pattern` writes (xorshift32, as patternBytes in steps.ts). */
static void pattern_bytes(u32 pattern, u8 *out, size_t n)
{
	u32 x = pattern ^ 0x9e3779b9u;
	size_t i;

	if (!x)
		x = 1;
	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		out[i] = x & 0xff;
	}
}

static struct device *devp(int d)
{
	return &kc_devs[d].pdev->dev;
}

static enum dma_data_direction dirof(u64 d)
{
	return d == 1 ? DMA_TO_DEVICE : d == 2 ? DMA_FROM_DEVICE : DMA_BIDIRECTIONAL;
}

static void *obj_va(struct kc_obj *o)
{
	return o->kind == K_PAGES ? page_address(o->page) : o->va;
}

/* Resolve [off, off+size) of a mapping or coherent object to a device-visible kernel address, chunk by chunk. */
static int dev_access(u64 ref, u64 is_obj, u64 off, u64 size, u8 *buf, bool write)
{
	if (is_obj) {
		struct kc_obj *o = &objs[ref];
		u8 *p = phys_to_virt(o->handle) + off;

		if (write)
			memcpy(p, buf, size);
		else
			memcpy(buf, p, size);
		return 0;
	} else {
		struct kc_map *m = &maps[ref];
		u64 base = 0, done = 0;
		int i;

		if (m->kind != M_SG) {
			u8 *p = phys_to_virt(m->dma) + off;

			if (write)
				memcpy(p, buf, size);
			else
				memcpy(buf, p, size);
			return 0;
		}
		for (i = 0; i < m->mapped && done < size; i++) {
			u64 len = sg_dma_len(&m->sgl[i]);
			u64 lo = max(off + done, base), hi = min(off + size, base + len);

			if (lo < hi) {
				u8 *p = phys_to_virt(sg_dma_address(&m->sgl[i])) + (lo - base);

				if (write)
					memcpy(p, buf + (lo - off), hi - lo);
				else
					memcpy(buf + (lo - off), p, hi - lo);
				done += hi - lo;
			}
			base += len;
		}
		return done == size ? 0 : -EINVAL;
	}
}

static void unmap_one(struct kc_map *m, unsigned long attrs)
{
	struct device *d = devp(m->dev);

	if (m->kind == M_SINGLE)
		dma_unmap_single_attrs(d, m->dma, m->size, m->dir, attrs);
	else if (m->kind == M_PAGE)
		dma_unmap_page_attrs(d, m->dma, m->size, m->dir, attrs);
	else if (m->kind == M_SG)
		dma_unmap_sg_attrs(d, m->sgl, m->nents, m->dir, attrs);
	m->kind = M_NONE;
}

static void free_one(struct kc_obj *o)
{
	if (o->kind == K_KMALLOC)
		kfree(o->va);
	else if (o->kind == K_PAGES)
		__free_pages(o->page, o->order);
	else if (o->kind == K_COHERENT)
		dma_free_coherent(devp(o->dev), o->size, o->va, o->handle);
	o->kind = K_NONE;
}

/* Whatever a sequence left behind (the host emits its own teardown; this only guards the next sequence). */
static void reset(void)
{
	int i;

	for (i = 0; i < KC_MAX_IDS; i++)
		if (maps[i].kind != M_NONE)
			unmap_one(&maps[i], 0);
	for (i = 0; i < KC_MAX_IDS; i++)
		if (objs[i].kind != K_NONE)
			free_one(&objs[i]);
	/* Every sequence starts from the masks set at probe. */
	for (i = 0; i < ARRAY_SIZE(kc_devs); i++)
		dma_set_mask_and_coherent(devp(i), kc_devs[i].mask);
}

static bool valid_id(u64 id)
{
	return id < KC_MAX_IDS;
}

/* A live object holding [off, off+size): steps naming a failed or freed object are skipped, as a driver would. */
static struct kc_obj *live_obj(u64 id, u64 off, u64 size)
{
	if (!valid_id(id) || objs[id].kind == K_NONE || off > objs[id].size || size > objs[id].size - off)
		return NULL;
	return &objs[id];
}

static struct kc_map *live_map(u64 id)
{
	return valid_id(id) && maps[id].kind != M_NONE ? &maps[id] : NULL;
}

static void run_step(u32 index, u32 op, const u64 *a, u32 n)
{
	static u8 data[1 << 20];
	struct kc_obj *o;
	struct kc_map *m;
	int i;

	switch (op) {
	case OP_KMALLOC:
		if (n < 2 || !valid_id(a[0]) || a[1] > sizeof(data))
			break;
		o = &objs[a[0]];
		o->va = kmalloc(a[1], GFP_KERNEL | (n > 2 ? kc_gfp(a[2]) : 0));
		o->kind = o->va ? K_KMALLOC : K_NONE;
		o->size = a[1];
		record(index, o->va ? ST_OK : ST_FAILED, virt_to_phys(o->va), NULL, 0);
		return;
	case OP_KFREE:
	case OP_FREE_PAGES:
	case OP_DMA_FREE:
		if (n < 1 || !live_obj(a[0], 0, 0))
			break;
		free_one(&objs[a[0]]);
		record(index, ST_OK, 0, NULL, 0);
		return;
	case OP_ALLOC_PAGES:
		if (n < 2 || !valid_id(a[0]) || a[1] > 10)
			break;
		o = &objs[a[0]];
		o->page = alloc_pages(GFP_KERNEL | (n > 2 ? kc_gfp(a[2]) : 0), a[1]);
		o->kind = o->page ? K_PAGES : K_NONE;
		o->order = a[1];
		o->size = PAGE_SIZE << a[1];
		record(index, o->page ? ST_OK : ST_FAILED, o->page ? page_to_phys(o->page) : 0, NULL, 0);
		return;
	case OP_DMA_ALLOC:
		if (n < 4 || !valid_id(a[0]) || a[1] >= ARRAY_SIZE(kc_devs))
			break;
		o = &objs[a[0]];
		o->dev = a[1];
		o->size = a[2];
		o->va = dma_alloc_coherent(devp(o->dev), o->size, &o->handle, (a[3] ? GFP_ATOMIC : GFP_KERNEL) | (n > 4 ? kc_gfp(a[4]) : 0));
		o->kind = o->va ? K_COHERENT : K_NONE;
		record(index, o->va ? ST_OK : ST_FAILED, o->va ? o->handle : 0, NULL, 0);
		return;
	case OP_MAP_SINGLE:
	case OP_MAP_PAGE:
		if (n < 4 || !valid_id(a[0]) || !live_obj(a[2], 0, 0) || a[1] >= ARRAY_SIZE(kc_devs))
			break;
		m = &maps[a[0]];
		o = &objs[a[2]];
		m->dev = a[1];
		if (op == OP_MAP_SINGLE) {
			m->dir = dirof(a[3]);
			m->size = o->size;
			m->attrs = n > 4 ? a[4] : 0;
			m->dma = dma_map_single_attrs(devp(m->dev), o->va, m->size, m->dir, m->attrs);
			m->kind = M_SINGLE;
		} else {
			if (n < 6 || !live_obj(a[2], a[3], a[4]))
				break;
			m->dir = dirof(a[5]);
			m->size = a[4];
			m->attrs = n > 6 ? a[6] : 0;
			m->dma = dma_map_page_attrs(devp(m->dev), o->page + (a[3] >> PAGE_SHIFT), a[3] & ~PAGE_MASK, m->size, m->dir, m->attrs);
			m->kind = M_PAGE;
		}
		if (dma_mapping_error(devp(m->dev), m->dma)) {
			m->kind = M_NONE;
			record(index, ST_FAILED, 0, NULL, 0);
			return;
		}
		record(index, ST_OK, m->dma, NULL, 0);
		return;
	case OP_MAP_SG: {
		u64 segs[2 * KC_MAX_SEGS];

		if (n < 4 || !valid_id(a[0]) || a[1] >= ARRAY_SIZE(kc_devs) || a[3] < 1 || a[3] > KC_MAX_SEGS || n < 4 + 3 * a[3])
			break;
		m = &maps[a[0]];
		m->dev = a[1];
		m->dir = dirof(a[2]);
		m->nents = a[3];
		sg_init_table(m->sgl, m->nents);
		for (i = 0; i < m->nents; i++) {
			const u64 *s = a + 4 + 3 * i;
			u8 *va;

			if (!live_obj(s[0], s[1], s[2]))
				goto bad;
			va = (u8 *)obj_va(&objs[s[0]]) + s[1];
			sg_set_page(&m->sgl[i], virt_to_page(va), s[2], offset_in_page(va));
		}
		m->attrs = n > 4 + 3 * a[3] ? a[4 + 3 * a[3]] : 0;
		m->mapped = dma_map_sg_attrs(devp(m->dev), m->sgl, m->nents, m->dir, m->attrs);
		if (m->mapped <= 0) {
			record(index, ST_FAILED, 0, NULL, 0);
			return;
		}
		m->kind = M_SG;
		m->size = 0;
		for (i = 0; i < m->nents; i++)
			m->size += m->sgl[i].length;
		for (i = 0; i < m->mapped; i++) {
			segs[2 * i] = sg_dma_address(&m->sgl[i]);
			segs[2 * i + 1] = sg_dma_len(&m->sgl[i]);
		}
		record(index, ST_OK, m->mapped, segs, 16 * m->mapped);
		return;
	}
	case OP_UNMAP:
		if (n < 1 || !live_map(a[0]))
			break;
		unmap_one(&maps[a[0]], n > 1 ? a[1] : 0);
		record(index, ST_OK, 0, NULL, 0);
		return;
	case OP_SYNC_CPU:
	case OP_SYNC_DEV:
		if (n < 3 || !live_map(a[0]) || a[1] + a[2] > maps[a[0]].size)
			break;
		m = &maps[a[0]];
		if (m->kind == M_SG) {
			if (op == OP_SYNC_CPU)
				dma_sync_sg_for_cpu(devp(m->dev), m->sgl, m->nents, m->dir);
			else
				dma_sync_sg_for_device(devp(m->dev), m->sgl, m->nents, m->dir);
		} else if (op == OP_SYNC_CPU) {
			dma_sync_single_range_for_cpu(devp(m->dev), m->dma, a[1], a[2], m->dir);
		} else {
			dma_sync_single_range_for_device(devp(m->dev), m->dma, a[1], a[2], m->dir);
		}
		record(index, ST_OK, 0, NULL, 0);
		return;
	case OP_CPU_WRITE:
		if (n < 4 || !live_obj(a[0], a[1], a[2]) || a[2] > sizeof(data))
			break;
		pattern_bytes(a[3], data, a[2]);
		memcpy((u8 *)obj_va(&objs[a[0]]) + a[1], data, a[2]);
		record(index, ST_OK, 0, NULL, 0);
		return;
	case OP_CPU_READ:
		if (n < 3 || !live_obj(a[0], a[1], a[2]) || a[2] > sizeof(data))
			break;
		memcpy(data, (u8 *)obj_va(&objs[a[0]]) + a[1], a[2]);
		record(index, ST_OK, 0, data, a[2]);
		return;
	case OP_DEV_WRITE:
		if (n < 5 || a[2] > sizeof(data) || (a[4] ? !live_obj(a[0], a[1], a[2]) : !live_map(a[0]) || a[1] + a[2] > maps[a[0]].size))
			break;
		pattern_bytes(a[3], data, a[2]);
		record(index, dev_access(a[0], a[4], a[1], a[2], data, true) ? ST_FAILED : ST_OK, 0, NULL, 0);
		return;
	case OP_DEV_READ:
		if (n < 4 || a[2] > sizeof(data) || (a[3] ? !live_obj(a[0], a[1], a[2]) : !live_map(a[0]) || a[1] + a[2] > maps[a[0]].size))
			break;
		if (dev_access(a[0], a[3], a[1], a[2], data, false))
			record(index, ST_FAILED, 0, NULL, 0);
		else
			record(index, ST_OK, 0, data, a[2]);
		return;
	case OP_WMB:
		wmb();
		record(index, ST_OK, 0, NULL, 0);
		return;
	case OP_SET_MASK: {
		int ret;

		if (n < 3 || a[0] >= ARRAY_SIZE(kc_devs) || a[2] < 1 || a[2] > 64)
			break;
		if (a[1] == 0)
			ret = dma_set_mask(devp(a[0]), DMA_BIT_MASK(a[2]));
		else if (a[1] == 1)
			ret = dma_set_coherent_mask(devp(a[0]), DMA_BIT_MASK(a[2]));
		else
			ret = dma_set_mask_and_coherent(devp(a[0]), DMA_BIT_MASK(a[2]));
		record(index, ret ? ST_FAILED : ST_OK, (u64)(s64)ret, NULL, 0);
		return;
	}
	}
bad:
	record(index, ST_SKIPPED, 0, NULL, 0);
}

/* Execute the whole command stream once; results accumulate in res_buf. */
static void run_all(void)
{
	size_t at = 12;
	u32 nseq, s;
	const u32 *w = (const u32 *)cmd_buf;

	if (cmd_len < 12 || w[0] != KC_MAGIC || w[1] != 1)
		return;
	nseq = w[2];
	for (s = 0; s < nseq; s++) {
		u32 nsteps, i, magic;

		if (at + 8 > cmd_len)
			return;
		magic = *(const u32 *)(cmd_buf + at);
		nsteps = *(const u32 *)(cmd_buf + at + 4);
		at += 8;
		if (magic != KC_SEQ)
			return;
		emit(&magic, 4);
		emit(&nsteps, 4);
		for (i = 0; i < nsteps; i++) {
			u32 op, nargs;
			u64 args[KC_MAX_ARGS];

			if (at + 8 > cmd_len)
				return;
			op = *(const u32 *)(cmd_buf + at);
			nargs = *(const u32 *)(cmd_buf + at + 4);
			at += 8;
			if (nargs > KC_MAX_ARGS || at + 8 * nargs > cmd_len)
				return;
			memcpy(args, cmd_buf + at, 8 * nargs);
			at += 8 * nargs;
			run_step(i + 1, op, args, nargs);
		}
		reset();
		cond_resched();
	}
}

static ssize_t kc_write(struct file *f, const char __user *buf, size_t n, loff_t *pos)
{
	if (grow(&cmd_buf, &cmd_cap, cmd_len + n))
		return -ENOMEM;
	if (copy_from_user(cmd_buf + cmd_len, buf, n))
		return -EFAULT;
	cmd_len += n;
	return n;
}

static ssize_t kc_read(struct file *f, char __user *buf, size_t n, loff_t *pos)
{
	if (!ran) {
		run_all();
		ran = true;
	}
	if (*pos >= res_len)
		return 0;
	n = min_t(size_t, n, res_len - *pos);
	if (copy_to_user(buf, res_buf + *pos, n))
		return -EFAULT;
	*pos += n;
	return n;
}

static const struct file_operations kc_fops = {
	.owner = THIS_MODULE,
	.write = kc_write,
	.read = kc_read,
};

static struct miscdevice kc_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "dmacheck",
	.fops = &kc_fops,
};

static int __init kc_init(void)
{
	int i, ret;

	for (i = 0; i < ARRAY_SIZE(kc_devs); i++) {
		struct kc_dev *k = &kc_devs[i];
		struct device *d;

		k->pdev = platform_device_register_simple(k->name, -1, NULL, 0);
		if (IS_ERR(k->pdev))
			return PTR_ERR(k->pdev);
		d = &k->pdev->dev;
		d->dma_parms = &k->parms;
		ret = dma_set_mask_and_coherent(d, k->mask);
		if (!ret)
			ret = dma_set_max_seg_size(d, k->max_seg_size);
		if (!ret)
			ret = dma_set_seg_boundary(d, k->seg_boundary);
		if (!ret)
			ret = dma_set_min_align_mask(d, k->min_align_mask);
		if (ret)
			return ret;
	}
	return misc_register(&kc_misc);
}

static void __exit kc_exit(void)
{
	int i;

	misc_deregister(&kc_misc);
	for (i = 0; i < ARRAY_SIZE(kc_devs); i++)
		platform_device_unregister(kc_devs[i].pdev);
	kvfree(cmd_buf);
	kvfree(res_buf);
}

module_init(kc_init);
module_exit(kc_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("dmacheck kernel-check: dmacheck driver steps on the real DMA API");
