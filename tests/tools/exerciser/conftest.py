def pytest_configure(config):
    config.addinivalue_line("markers", "qemu: needs qemu-system-x86_64 (a real QEMU run)")
