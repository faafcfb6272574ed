/* sluice source plugins: the stable C ABI (Spark's receiverStream for sluice).
 *
 * A source plugin is a shared library that exports one function, `sluice_source_plugin`, which
 * returns a table of function pointers (create, start, stop, destroy). sluice loads it with
 * `--source plugin:PATH.so?key=value&...`, checks the table's ABI version, and hands each
 * instance a table of host callbacks (store_one, store_many, report_error, request_restart,
 * is_stopped, log). This header is pure C99, has no dependency besides the C library, and is
 * installed with sluice: a plugin builds against it alone, in C or C++.
 *
 * Handles are opaque at the boundary: sluice never looks inside a SluiceSourceInstance (the
 * plugin's state) and the plugin never looks inside a SluiceHost (sluice's side of one
 * instance).
 *
 * Versioning. SLUICE_SOURCE_ABI_VERSION changes whenever a change would break a built plugin.
 * sluice refuses a plugin whose table carries another version, with an error that names both.
 * The first two fields of SluiceSourcePlugin and SluiceHostApi (abi_version, struct_size) stay
 * where they are in every future version.
 *
 * Threading, in short (each call below gives the details):
 *  - create, start, stop and destroy of one instance are called from one sluice thread at a
 *    time, never concurrently with each other, in the order create, (start, stop)*, destroy.
 *    A supervisor may call stop then start again to restart the instance.
 *  - The host callbacks may be called from any plugin thread, concurrently, from the moment
 *    start is entered until stop returns. A plugin's own threads do the receiving; start and
 *    stop must not wait for data.
 *  - Release callbacks (zero-copy payloads) are called by sluice from any of its threads, at
 *    most once per frame, possibly after stop returned, but always before destroy is called.
 *
 * A complete example: examples/minimal_source_plugin.c; the guide: docs/writing-a-source.md.
 */
#ifndef SLUICE_SOURCE_PLUGIN_H_
#define SLUICE_SOURCE_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. */
#define SLUICE_SOURCE_ABI_VERSION 1u

/* The name of the one symbol sluice looks up with dlsym. */
#define SLUICE_SOURCE_ENTRY_SYMBOL "sluice_source_plugin"

/* The most name bytes a frame keeps (the wire format's name field); longer names are cut. */
#define SLUICE_FRAME_NAME_BYTES 28u

/* Marks the entry point as exported even when the plugin builds with -fvisibility=hidden. */
#if defined(__GNUC__) || defined(__clang__)
#define SLUICE_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define SLUICE_PLUGIN_EXPORT
#endif

/* Results of the host's store calls and of a plugin's start. */
typedef enum SluiceSourceResult {
  SLUICE_SOURCE_OK = 0,
  /* sluice is stopping or restarting this source: the frame(s) were not accepted. Stop storing
   * and let your threads wind down; stop will be called. */
  SLUICE_SOURCE_CLOSED = 1,
  /* A bad argument (a NULL frame, NULL data with a non-zero size, ...): nothing was accepted. */
  SLUICE_SOURCE_INVALID = 2,
  /* A plugin's start failed; its error buffer says why. */
  SLUICE_SOURCE_FAILED = 3
} SluiceSourceResult;

/* Log levels for SluiceHostApi.log. */
typedef enum SluiceLogLevel {
  SLUICE_LOG_DEBUG = 0,
  SLUICE_LOG_INFO = 1,
  SLUICE_LOG_WARN = 2,
  SLUICE_LOG_ERROR = 3
} SluiceLogLevel;

/* Opaque: sluice's side of one plugin instance. Valid from create until destroy returns. */
typedef struct SluiceHost SluiceHost;

/* Opaque: the plugin's state for one instance, returned by create. sluice only passes it back. */
typedef struct SluiceSourceInstance SluiceSourceInstance;

/* Called by sluice when it no longer needs a zero-copy payload. `release_ctx` is the value given
 * in SluiceFrame. Called exactly once per accepted frame, from any sluice thread; must not call
 * back into the host and should be quick (it runs on an executor thread). */
typedef void (*SluiceReleaseFn)(void* release_ctx);

/* One frame handed to sluice.
 *
 * Ownership of the payload bytes:
 *  - release == NULL: sluice copies `data` during the store call; the plugin keeps its buffer.
 *  - release != NULL: zero copy. If the frame is accepted, sluice reads `data` in place and calls
 *    release(release_ctx) exactly once when it holds no more reference to it (after the frame's
 *    result line is written, or earlier if it is dropped at shutdown). Until then the bytes must
 *    stay valid and unchanged. If the frame is not accepted (see store_one/store_many), release
 *    is never called for it and the bytes stay the plugin's.
 * The name is always copied during the call. */
typedef struct SluiceFrame {
  const char* name;    /* not necessarily NUL-terminated; may be NULL when name_size is 0 */
  size_t name_size;    /* bytes; names longer than SLUICE_FRAME_NAME_BYTES are cut */
  const uint8_t* data; /* the encoded image (JPEG, PNG); may be NULL when size is 0 */
  size_t size;         /* bytes */
  SluiceReleaseFn release;
  void* release_ctx;
} SluiceFrame;

/* One configuration entry from `--source plugin:PATH.so?key=value&...`, percent-decoded.
 * Entries come in the order given; a key may repeat. The strings are NUL-terminated and valid
 * only during create: copy what you keep. Keys sluice uses itself (restart_backoff,
 * restart_max_backoff, max_restarts) are not passed on. */
typedef struct SluiceConfigEntry {
  const char* key;
  const char* value;
} SluiceConfigEntry;

/* The host callbacks. The table and `host` stay valid from create until destroy returns. Every
 * callback takes the SluiceHost* given to create. All are thread-safe. */
typedef struct SluiceHostApi {
  uint32_t abi_version; /* SLUICE_SOURCE_ABI_VERSION of the running sluice */
  uint32_t struct_size; /* sizeof(SluiceHostApi) of the running sluice */

  /* Stores one frame (Spark's store(record), the unreliable path). sluice gathers frames into
   * blocks every block interval and applies its rate limit and backpressure: the call blocks
   * while the pipeline is full, which is how a slow pipeline slows the plugin. It returns once
   * the frame is in the block being built; no durability is promised: a frame stored this way
   * can be lost if the process dies before it is processed.
   * Returns SLUICE_SOURCE_OK (accepted), SLUICE_SOURCE_CLOSED (stopping: not accepted) or
   * SLUICE_SOURCE_INVALID (not accepted). */
  int (*store_one)(SluiceHost* host, const SluiceFrame* frame);

  /* Stores `count` frames as a unit (Spark's store(iterator), the reliable path). Blocks until
   * every frame is stored, and written to the write-ahead log when sluice runs with one; after
   * SLUICE_SOURCE_OK the plugin may acknowledge the frames upstream.
   * `*stored` (may be NULL) receives the number of leading frames accepted: `count` on success,
   * fewer on failure. Frames [0, *stored) are sluice's (zero-copy ones will be released);
   * frames [*stored, count) stay the plugin's and should be offered again after a restart.
   * Returns SLUICE_SOURCE_OK, SLUICE_SOURCE_CLOSED or SLUICE_SOURCE_INVALID. */
  int (*store_many)(SluiceHost* host, const SluiceFrame* frames, size_t count, size_t* stored);

  /* Reports an error that involves no single frame (a dropped datagram, a lost device). It is
   * counted in the source's error counter, kept as its last error, and logged (at most about one
   * log line per second per source; the count is exact). `message` is copied; NUL-terminated. */
  void (*report_error)(SluiceHost* host, const char* message);

  /* Asks sluice to restart this source: it returns at once; a sluice thread then calls stop,
   * waits with exponential backoff, and calls start again. Counted as an error and a restart.
   * From this call on is_stopped reports 1 and store calls return SLUICE_SOURCE_CLOSED: the
   * calling thread should return. Calls while a restart is pending are merged into it. A request
   * made before start or after stop is ignored. `reason` is copied; NUL-terminated. */
  void (*request_restart)(SluiceHost* host, const char* reason);

  /* 1 once sluice has begun stopping (or restarting) this instance, else 0. Cheap: poll it in
   * receive loops. It goes back to 0 when start is called again. */
  int (*is_stopped)(const SluiceHost* host);

  /* Writes one line to sluice's log, prefixed with the source's name. `message` is copied. */
  void (*log)(SluiceHost* host, int level, const char* message);
} SluiceHostApi;

/* The table a plugin exports. Static storage: sluice reads it and never writes or frees it. */
typedef struct SluiceSourcePlugin {
  uint32_t abi_version; /* SLUICE_SOURCE_ABI_VERSION the plugin was built with; checked first */
  uint32_t struct_size; /* sizeof(SluiceSourcePlugin) the plugin was built with */
  const char* name;     /* short kind for logs, e.g. "shm-ring"; static, NUL-terminated */

  /* Creates one instance from its configuration. Validate every key here: an unknown key or a
   * bad value should fail, so a mistake shows when sluice starts. Must not start threads or
   * store frames. Returns the instance, or NULL after writing a NUL-terminated reason (at most
   * error_size bytes including the NUL) to `error`. `api` and `host` stay valid until destroy
   * returns. */
  SluiceSourceInstance* (*create)(const SluiceConfigEntry* config, size_t config_count,
                                  const SluiceHostApi* api, SluiceHost* host, char* error, size_t error_size);

  /* Starts receiving: typically opens devices or sockets and starts the plugin's threads, then
   * returns. Returns SLUICE_SOURCE_OK, or SLUICE_SOURCE_FAILED after writing a reason to `error`
   * (then stop is not called for this start). A failed first start stops sluice's start-up with
   * that reason; a failed restart is retried with backoff. Called again after stop on restarts. */
  int (*start)(SluiceSourceInstance* self, char* error, size_t error_size);

  /* Stops receiving. is_stopped already returns 1 when this is called, and store calls return
   * SLUICE_SOURCE_CLOSED. Returns only once no plugin thread will call the host again (join your
   * threads). Frames already stored stay in the pipeline; their releases may come later. */
  void (*stop)(SluiceSourceInstance* self);

  /* Frees the instance. Called once, after the last stop, and after every release callback of
   * this instance has returned. The library is unloaded only after this. */
  void (*destroy)(SluiceSourceInstance* self);
} SluiceSourcePlugin;

/* The entry point every plugin exports (extern "C" in C++). Returns its static table. sluice
 * calls it once per load, before anything else, and checks abi_version before reading further. */
typedef const SluiceSourcePlugin* (*SluiceSourcePluginEntryFn)(void);
SLUICE_PLUGIN_EXPORT const SluiceSourcePlugin* sluice_source_plugin(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SLUICE_SOURCE_PLUGIN_H_ */
