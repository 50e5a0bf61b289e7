"""Encoders: a study's raw stimulus or data -> the network's input spike trains or currents.

:mod:`.ipd`: Poisson IPD stimuli (spikes); :mod:`.bmi`: binned spike counts -> input currents.
Each study calls its encoder itself (:mod:`snnsim.studies`).
"""
