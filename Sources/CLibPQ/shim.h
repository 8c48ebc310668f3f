#ifndef PGREFLEX_CLIBPQ_SHIM_H
#define PGREFLEX_CLIBPQ_SHIM_H

// Debian installs the header under postgresql/; other distributions at the top level.
#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#else
#include <postgresql/libpq-fe.h>
#endif

#endif
