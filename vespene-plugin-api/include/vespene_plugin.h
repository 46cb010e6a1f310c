/*
 * vespene_plugin.h - the C door into Vespene's plugin ABI (ABI major 1).
 *
 * A plugin is a shared library that exports one function:
 *
 *     const vp_plugin_v1 *vespene_plugin_v1(void);
 *
 * returning a table that lives as long as the library. Everything
 * structured (parameters, requests, results, errors) is UTF-8 JSON; the
 * shapes are documented per plugin kind in the Rust crate
 * vespene-plugin-api (module `kinds`) and in docs/plugin-guide.md.
 *
 * Rules:
 *  - Strings passed in (vp_str) are borrowed for the duration of the call
 *    and are NOT NUL-terminated.
 *  - Buffers handed out (vp_buf) belong to whoever allocated them: the host
 *    gives a plugin's buffers back through the table's free_buf, and the
 *    plugin gives the host's buffers back through vp_host.free_buf.
 *  - Errors are JSON: {"code":"invalid_params","message":"..."}; codes are
 *    unsupported, invalid_params, invalid_request, failed, panicked.
 *  - An operation a plugin does not know must answer VP_ERR with code
 *    "unsupported"; the host then falls back.
 *  - Entries are only ever appended to these structs; struct_size tells
 *    which exist. This layout never changes within ABI major 1.
 *  - Functions may be called from several threads at once.
 */
#ifndef VESPENE_PLUGIN_H
#define VESPENE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VESPENE_PLUGIN_ABI_MAJOR 1

/* Status codes. */
#define VP_OK        0 /* success; the out buffer holds the result          */
#define VP_ERR       1 /* failure; the out buffer holds an error (JSON)     */
#define VP_UNCHANGED 2 /* filter_line: keep the line (nothing written)      */
#define VP_DROP      3 /* filter_line: drop the line                        */

/* Log levels for vp_host.log. */
#define VP_LOG_ERROR 1
#define VP_LOG_WARN  2
#define VP_LOG_INFO  3
#define VP_LOG_DEBUG 4
#define VP_LOG_TRACE 5

/* A borrowed UTF-8 string. */
typedef struct vp_str {
    const uint8_t *ptr;
    size_t len;
} vp_str;

/* An owned buffer; a zeroed one means "nothing". */
typedef struct vp_buf {
    uint8_t *ptr;
    size_t len;
    size_t cap;
} vp_buf;

/*
 * Services the host lends to an instance, given to create(). Valid for the
 * life of the instance. New services are new op names, never new fields.
 *
 * Host service ops (JSON in, JSON out):
 *   "run"    run a command under the host's rules, streaming its lines into
 *            the build: {"shell":"make test"} or {"argv":["make","test"]},
 *            optional "cwd", "env", "stdin", "timeout_secs",
 *            "stream" ("output" | "messages" | "none"), "log_command"
 *            -> {"exit_code":0,"timed_out":false,"aborted":false,
 *                "last_line":"...","tail":"..."}
 *   "append" {"stream":"messages","text":"..."} -> {}
 *   "info"   {} -> {"vespene_version":"...","settings_dir":"...", ...}
 * "run" and "append" act on the build being served, so they only work on
 * the thread of the call being served.
 */
typedef struct vp_host {
    uint32_t struct_size;
    uint32_t abi_major;
    void *ctx;
    int32_t (*call)(void *ctx, vp_str op, vp_str args_json, vp_buf *out);
    void (*free_buf)(void *ctx, vp_buf buf);
    void (*log)(void *ctx, int32_t level, vp_str message);
} vp_host;

/*
 * The plugin's table.
 *
 * manifest_json: {"abi":1,"name":"example.output.redact","kind":"output",
 *                 "api":"1.0","version":"1.0.0","description":"..."}
 *   kind is one of scm, isolation, output, trigger, authorization,
 *   variables, secrets, organizations, autoscale_planner,
 *   autoscale_executor; api is the per-kind API version implemented.
 *
 * create:      make an instance named `name` from its parameters (JSON:
 *              an object, a string, or null). On VP_OK store it in
 *              *instance; on VP_ERR write an error into *error_json.
 * call:        run operation `op`; write the JSON result (VP_OK) or error
 *              (VP_ERR) into *out_json.
 * filter_line: output plugins only; one line without its line ending.
 *              Return VP_UNCHANGED, VP_DROP, or VP_OK with the replacement
 *              in *out; VP_ERR with an error message in *out. Other kinds
 *              may leave it NULL.
 * destroy:     release an instance.
 * free_buf:    release a buffer this plugin handed out.
 */
typedef struct vp_plugin_v1 {
    uint32_t abi_major;   /* VESPENE_PLUGIN_ABI_MAJOR */
    uint32_t struct_size; /* sizeof(vp_plugin_v1) as compiled */
    vp_str manifest_json;
    int32_t (*create)(vp_str name, vp_str config_json, const vp_host *host,
                      void **instance, vp_buf *error_json);
    int32_t (*call)(void *instance, vp_str op, vp_str args_json, vp_buf *out_json);
    int32_t (*filter_line)(void *instance, vp_str line, vp_buf *out);
    void (*destroy)(void *instance);
    void (*free_buf)(vp_buf buf);
} vp_plugin_v1;

/* The one symbol a C plugin exports. */
const vp_plugin_v1 *vespene_plugin_v1(void);

#ifdef __cplusplus
}
#endif

#endif /* VESPENE_PLUGIN_H */
