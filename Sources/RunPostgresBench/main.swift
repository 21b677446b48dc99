// Placeholder until the driver benchmark lands.
print("not built yet")
