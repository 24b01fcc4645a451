"""The `datasets` loading script for the original OpenVid-1M release (installed as `openvid_hf.dataset_script`)."""
