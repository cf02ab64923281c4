#ifndef TCPEEK_SQLITE_SETUP_H
#define TCPEEK_SQLITE_SETUP_H

/* Turns off SQLite's memory statistics, which take a global mutex around
 * every allocation of every connection: a tenth of the recorder's time at a
 * million sessions a second, for figures tcpeek never reads. Must run
 * before SQLite is first used (returns SQLITE_MISUSE after, changing
 * nothing). A C function because sqlite3_config is variadic, which Swift
 * cannot call. Returns SQLite's result code. */
int tcpeek_sqlite_disable_memory_statistics(void);

#endif
