"""Rotoshot core: Qt-free engine (video I/O, annotations, OSVOS network, training, segmentation)."""
