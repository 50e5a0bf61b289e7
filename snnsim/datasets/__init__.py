"""Data sets: loaders and generators (the BMI data set)."""
