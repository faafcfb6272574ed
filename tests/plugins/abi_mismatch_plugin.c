/* A plugin built for a future ABI version: sluice must refuse it, naming both versions. */
#include <stddef.h>

#include "sluice/source_plugin.h"

static SluiceSourceInstance* create(const SluiceConfigEntry* config, size_t count, const SluiceHostApi* api,
                                    SluiceHost* host, char* error, size_t error_size) {
  (void)config, (void)count, (void)api, (void)host, (void)error, (void)error_size;
  return NULL;
}
static int start(SluiceSourceInstance* self, char* error, size_t error_size) {
  (void)self, (void)error, (void)error_size;
  return SLUICE_SOURCE_FAILED;
}
static void stop(SluiceSourceInstance* self) {
  (void)self;
}
static void destroy(SluiceSourceInstance* self) {
  (void)self;
}

static const SluiceSourcePlugin kPlugin = {
    SLUICE_SOURCE_ABI_VERSION + 1, sizeof(SluiceSourcePlugin), "future", create, start, stop, destroy};
SLUICE_PLUGIN_EXPORT const SluiceSourcePlugin* sluice_source_plugin(void) {
  return &kPlugin;
}
