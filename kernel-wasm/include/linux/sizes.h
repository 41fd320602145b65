/* linux/sizes.h (kshim) */
#ifndef _KSHIM_LINUX_SIZES_H
#define _KSHIM_LINUX_SIZES_H
#define SZ_4K 0x00001000
#define SZ_64K 0x00010000
#define SZ_128K 0x00020000
#define SZ_256K 0x00040000
#define SZ_1M 0x00100000
#define SZ_4M 0x00400000
#define SZ_16M 0x01000000
#define SZ_1G 0x40000000
#endif
