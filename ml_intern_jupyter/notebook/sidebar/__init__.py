"""The sidebar's comm channel to this kernel and the rows it sends."""
