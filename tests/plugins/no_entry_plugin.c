/* A shared library that is not a sluice plugin: it exports no sluice_source_plugin. */
int not_a_sluice_plugin(void) {
  return 42;
}
