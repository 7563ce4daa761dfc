"""Unit constants. Everything inside dcsim is SI; these convert at the edges."""

MINUTE_S = 60.0
HOUR_S = 3600.0
DAY_S = 86400.0
KWH_J = 3.6e6
MWH_J = 3.6e9
KW_W = 1e3
MW_W = 1e6
GB_B = 1e9
GIB_B = 2.0**30
TB_B = 1e12
TFLOPS = 1e12
PFLOPS = 1e15
ZERO_C_K = 273.15
