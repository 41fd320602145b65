/*
 * linux/scatterlist.h (kshim): flat scatterlists (no chaining: the glue
 * lays out one array per call from the ABI's struct dmacheck_sg), with the
 * fields dma-direct reads and writes. A page pointer lives in page_link
 * with the end-of-list mark in bit 1 (struct page handles are 4-aligned).
 */
#ifndef _KSHIM_LINUX_SCATTERLIST_H
#define _KSHIM_LINUX_SCATTERLIST_H

#include <linux/types.h>
#include <linux/mm.h>
#include <linux/bug.h>

struct scatterlist {
	unsigned long page_link;
	unsigned int offset;
	unsigned int length;
	dma_addr_t dma_address;
	unsigned int dma_length;
};

struct sg_table {
	struct scatterlist *sgl;
	unsigned int nents;
	unsigned int orig_nents;
};

#define KSHIM_SG_END 0x2UL
#define KSHIM_SG_FLAGS 0x3UL

#define sg_dma_address(sg) ((sg)->dma_address)
#define sg_dma_len(sg) ((sg)->dma_length)

static inline struct page *sg_page(struct scatterlist *sg)
{
	return (struct page *)(sg->page_link & ~KSHIM_SG_FLAGS);
}
static inline bool sg_is_last(struct scatterlist *sg)
{
	return (sg->page_link & KSHIM_SG_END) != 0;
}
static inline void sg_mark_end(struct scatterlist *sg)
{
	sg->page_link |= KSHIM_SG_END;
}
static inline void sg_set_page(struct scatterlist *sg, struct page *page, unsigned int len, unsigned int offset)
{
	sg->page_link = (unsigned long)page | (sg->page_link & KSHIM_SG_END);
	sg->offset = offset;
	sg->length = len;
}
static inline struct scatterlist *sg_next(struct scatterlist *sg)
{
	return sg_is_last(sg) ? NULL : sg + 1;
}
#define for_each_sg(sglist, sg, nr, __i) \
	for (__i = 0, sg = (sglist); __i < (nr); __i++, sg = sg_next(sg))

/* CONFIG_PCI_P2PDMA is off: no segment carries a bus address. */
static inline bool sg_is_dma_bus_address(struct scatterlist *sg) { (void)sg; return false; }
static inline void sg_dma_mark_bus_address(struct scatterlist *sg) { (void)sg; }
static inline void sg_dma_unmark_bus_address(struct scatterlist *sg) { (void)sg; }

static inline void sg_init_table(struct scatterlist *sgl, unsigned int nents)
{
	memset(sgl, 0, sizeof(*sgl) * nents);
	if (nents)
		sg_mark_end(&sgl[nents - 1]);
}
int sg_alloc_table(struct sg_table *table, unsigned int nents, gfp_t gfp_mask);
void sg_free_table(struct sg_table *table);

#endif
