// The driver's _init, renamed in the host build (driver/CMakeLists.txt); referencing it pulls
// the driver's objects into the executable.
extern "C" int fk_module_init(void);
int (*pvit_driver_entry)(void) __attribute__((used)) = fk_module_init;
