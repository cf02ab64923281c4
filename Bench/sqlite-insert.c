/* sqlite-insert: SQLite's own limit for the rows tcpeek records.
 *
 * Reads every `sessions` row of SOURCE (a database `tcpeek record` wrote)
 * into memory, then, timed, creates TARGET with the same table and indexes
 * (their SQL taken from SOURCE) and inserts the rows again in the same order
 * through the same system SQLite, as plainly and as fast as C allows:
 * WAL, synchronous=NORMAL (tcpeek's settings), one prepared statement of
 * ROWS rows (and a one-row one for the rest), one transaction per BATCH
 * rows. What tcpeek's recorder adds to this time is its own cost.
 *
 * The time runs from opening TARGET to closing it, as `tcpeek record`'s
 * time runs until its file is complete. Checkpoints (the write-ahead log
 * copied into the file, two fsyncs each) are left to the close, which
 * copies everything once: the least a writer can do; tcpeek's recorder
 * leaves them to a thread of its own (Checkpointer.swift).
 *
 * usage: sqlite-insert [--batch N] [--rows-per-statement N] [--memstatus-off] SOURCE TARGET
 * prints: rows=N seconds=S rows_per_second=R cpu_seconds=C sqlite=VERSION
 *   (cpu_seconds: user + system time of the same span, which a loaded
 *   machine disturbs less than the wall time)
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define COLUMNS 32
static const char *const columns =
    "run_id, started_at, duration, family, client_addr, client_port, server_addr, server_port, vlan, "
    "direction, outcome, dup_syn, dup_synack, icmp_type, icmp_code, evicted, filter_bits, "
    "cause, syn_ttl, synack_ttl, rst_ttl, synack_seen, icmp_sender, icmp_ttl, synack_mss, synack_wscale, "
    "syn_to_synack, synack_to_ack, syn_retry_time, ignored_rst, ignored_rst_ttl, capture_dropped";

/* One column value of one row, as SQLite gave it. */
struct value {
    int type; /* SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT or SQLITE_NULL */
    union { sqlite3_int64 integer; double real; char *text; } as;
    int length;
};

static void fail(sqlite3 *db, const char *what)
{
    fprintf(stderr, "sqlite-insert: %s: %s\n", what, db ? sqlite3_errmsg(db) : "out of memory");
    exit(1);
}

static void run(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) fail(db, sql);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/* Every row of SOURCE's sessions table, in id order (tcpeek's insert order). */
static struct value *load(sqlite3 *source, size_t *count)
{
    sqlite3_stmt *select;
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT %s FROM sessions ORDER BY id", columns);
    if (sqlite3_prepare_v2(source, sql, -1, &select, NULL) != SQLITE_OK) fail(source, "reading sessions");
    size_t capacity = 1 << 16, rows = 0;
    struct value *values = malloc(capacity * COLUMNS * sizeof *values);
    int status;
    while ((status = sqlite3_step(select)) == SQLITE_ROW) {
        if (rows == capacity) {
            capacity *= 2;
            values = realloc(values, capacity * COLUMNS * sizeof *values);
        }
        if (!values) fail(NULL, "loading rows");
        for (int c = 0; c < COLUMNS; c++) {
            struct value *v = &values[rows * COLUMNS + c];
            v->type = sqlite3_column_type(select, c);
            if (v->type == SQLITE_INTEGER) v->as.integer = sqlite3_column_int64(select, c);
            else if (v->type == SQLITE_FLOAT) v->as.real = sqlite3_column_double(select, c);
            else if (v->type == SQLITE_TEXT) {
                v->length = sqlite3_column_bytes(select, c);
                v->as.text = malloc((size_t)v->length + 1);
                memcpy(v->as.text, sqlite3_column_text(select, c), (size_t)v->length + 1);
            } else v->type = SQLITE_NULL;
        }
        rows++;
    }
    if (status != SQLITE_DONE) fail(source, "reading sessions");
    sqlite3_finalize(select);
    *count = rows;
    return values;
}

static sqlite3_stmt *insert_statement(sqlite3 *db, int rows)
{
    size_t size = 128 + strlen(columns) + (size_t)rows * (COLUMNS * 3 + 4);
    char *sql = malloc(size), *end = sql;
    end += sprintf(end, "INSERT OR FAIL INTO sessions (%s) VALUES ", columns);
    for (int r = 0; r < rows; r++) {
        end += sprintf(end, "%s(", r ? ", " : "");
        for (int c = 0; c < COLUMNS; c++) end += sprintf(end, "%s?", c ? ", " : "");
        end += sprintf(end, ")");
    }
    sqlite3_stmt *statement;
    if (sqlite3_prepare_v2(db, sql, -1, &statement, NULL) != SQLITE_OK) fail(db, "preparing the insert");
    free(sql);
    return statement;
}

static void insert(sqlite3 *db, sqlite3_stmt *statement, const struct value *rows, int count)
{
    for (int i = 0; i < count * COLUMNS; i++) {
        const struct value *v = &rows[i];
        int status = v->type == SQLITE_INTEGER ? sqlite3_bind_int64(statement, i + 1, v->as.integer)
            : v->type == SQLITE_FLOAT          ? sqlite3_bind_double(statement, i + 1, v->as.real)
            : v->type == SQLITE_TEXT ? sqlite3_bind_text(statement, i + 1, v->as.text, v->length, SQLITE_STATIC)
                                     : sqlite3_bind_null(statement, i + 1);
        if (status != SQLITE_OK) fail(db, "binding");
    }
    if (sqlite3_step(statement) != SQLITE_DONE) fail(db, "inserting");
    sqlite3_reset(statement);
}

int main(int argc, char **argv)
{
    long batch = 5000, per_statement = 32;
    int memstatus = 1, a = 1;
    for (; a < argc && argv[a][0] == '-'; a++) {
        if (!strcmp(argv[a], "--batch") && a + 1 < argc) batch = atol(argv[++a]);
        else if (!strcmp(argv[a], "--rows-per-statement") && a + 1 < argc) per_statement = atol(argv[++a]);
        else if (!strcmp(argv[a], "--memstatus-off")) memstatus = 0;
        else break;
    }
    if (argc - a != 2 || batch < 1 || per_statement < 1 || per_statement * COLUMNS > 32766) {
        fprintf(stderr, "usage: sqlite-insert [--batch N] [--rows-per-statement N] [--memstatus-off] SOURCE TARGET\n"
                        "  SOURCE: a database tcpeek recorded; TARGET: a file that does not exist yet\n");
        return 2;
    }
    if (!memstatus && sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK) fail(NULL, "SQLITE_CONFIG_MEMSTATUS");

    sqlite3 *source, *target;
    if (sqlite3_open_v2(argv[a], &source, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) fail(source, argv[a]);
    size_t count;
    struct value *rows = load(source, &count);
    sqlite3_stmt *schema;
    if (sqlite3_prepare_v2(source, "SELECT sql FROM sqlite_master WHERE tbl_name = 'sessions' AND sql IS NOT NULL "
                                   "ORDER BY type = 'index'", -1, &schema, NULL) != SQLITE_OK)
        fail(source, "reading the schema");

    double start = now(), start_cpu = cpu();
    if (sqlite3_open_v2(argv[a + 1], &target, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXCLUSIVE,
                        NULL) != SQLITE_OK)
        fail(target, argv[a + 1]);
    run(target, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0");
    while (sqlite3_step(schema) == SQLITE_ROW) run(target, (const char *)sqlite3_column_text(schema, 0));
    sqlite3_stmt *many = insert_statement(target, (int)per_statement), *one = insert_statement(target, 1);
    for (size_t done = 0; done < count;) {
        size_t end = done + (size_t)batch < count ? done + (size_t)batch : count;
        run(target, "BEGIN");
        for (; end - done >= (size_t)per_statement; done += (size_t)per_statement)
            insert(target, many, &rows[done * COLUMNS], (int)per_statement);
        for (; done < end; done++) insert(target, one, &rows[done * COLUMNS], 1);
        run(target, "COMMIT");
    }
    sqlite3_finalize(many);
    sqlite3_finalize(one);
    if (sqlite3_close(target) != SQLITE_OK) fail(target, "closing");
    double seconds = now() - start, cpu_seconds = cpu() - start_cpu;

    sqlite3_finalize(schema);
    sqlite3_close(source);
    printf("rows=%zu seconds=%.6f rows_per_second=%.0f cpu_seconds=%.6f sqlite=%s\n", count, seconds, count / seconds,
           cpu_seconds, sqlite3_libversion());
    return 0;
}
