/* linux/export.h (kshim): EXPORT_SYMBOL is in kshim/compiler.h. */
#include <kshim/compiler.h>
