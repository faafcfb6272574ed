/* A complete sluice source plugin: stores every file of the directory dir=PATH once, as frames
 * named by file name. Build: cc -shared -fPIC -I<prefix>/include minimal_source_plugin.c -lpthread */
#include <dirent.h>
#include <pthread.h>
#include <sluice/source_plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct SluiceSourceInstance {
  const SluiceHostApi* api;
  SluiceHost* host;
  char dir[4096];
  pthread_t thread;
};

static void* run(void* arg) {
  SluiceSourceInstance* self = arg;
  DIR* dir = opendir(self->dir);
  if (dir == NULL) self->api->report_error(self->host, "cannot open the directory");
  for (struct dirent* e; dir != NULL && (e = readdir(dir)) != NULL && !self->api->is_stopped(self->host);) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", self->dir, e->d_name);
    FILE* file = e->d_name[0] == '.' ? NULL : fopen(path, "rb");
    if (file == NULL) continue;
    fseek(file, 0, SEEK_END);
    size_t bytes = (size_t)(ftell(file) > 0 ? ftell(file) : 0);
    rewind(file);
    uint8_t* data = malloc(bytes + 1);
    SluiceFrame frame = {e->d_name, strlen(e->d_name), data, data ? fread(data, 1, bytes, file) : 0, NULL,
                         NULL};
    fclose(file);
    int rc = self->api->store_one(self->host, &frame); /* no release callback: sluice copies */
    free(data);
    if (rc == SLUICE_SOURCE_CLOSED) break;
  }
  if (dir != NULL) closedir(dir);
  return NULL;
}

static SluiceSourceInstance* create(const SluiceConfigEntry* config, size_t count, const SluiceHostApi* api,
                                    SluiceHost* host, char* error, size_t error_size) {
  if (count != 1 || strcmp(config[0].key, "dir") != 0) {
    snprintf(error, error_size, "expected exactly one key: dir=PATH");
    return NULL;
  }
  SluiceSourceInstance* self = calloc(1, sizeof *self);
  if (self != NULL) *self = (SluiceSourceInstance){.api = api, .host = host};
  if (self != NULL) snprintf(self->dir, sizeof self->dir, "%s", config[0].value);
  return self;
}

static int start(SluiceSourceInstance* self, char* error, size_t error_size) {
  int failed = pthread_create(&self->thread, NULL, run, self) != 0;
  if (failed) snprintf(error, error_size, "pthread_create failed");
  return failed ? SLUICE_SOURCE_FAILED : SLUICE_SOURCE_OK;
}
static void stop(SluiceSourceInstance* self) {
  pthread_join(self->thread, NULL);
}
static void destroy(SluiceSourceInstance* self) {
  free(self);
}

static const SluiceSourcePlugin kPlugin = {
    SLUICE_SOURCE_ABI_VERSION, sizeof(SluiceSourcePlugin), "minimal", create, start, stop, destroy};
SLUICE_PLUGIN_EXPORT const SluiceSourcePlugin* sluice_source_plugin(void) {
  return &kPlugin;
}
