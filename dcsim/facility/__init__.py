"""The building: topology, power delivery, cooling, climate and the control loop."""
