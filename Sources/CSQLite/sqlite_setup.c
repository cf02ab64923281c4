#include "sqlite3.h"
#include "tcpeek_sqlite_setup.h"

int tcpeek_sqlite_disable_memory_statistics(void)
{
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
