// Placeholder until the module lands.
print("not built yet")
