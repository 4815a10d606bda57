"""One module per simulated network OS; :mod:`nornflow.lab.devices` lists them."""
