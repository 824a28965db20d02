# Latency per case (p50 bar, p10-p90 whisker), log scale; written by scripts/bench.sh:
#   gnuplot -e "datafile='target/bench/plot.dat'; outfile='benches/results/latency.png'" scripts/bench-plot.gp
# Data: "label" p50 p10 p90 group   (group 0 = baseline, 1 = docker-credential-beta9, 2 = ecr-login)
if (!exists("datafile")) datafile = 'target/bench/plot.dat'
if (!exists("outfile")) outfile = 'benches/results/latency.png'

set terminal pngcairo size 1000,560 font "DejaVu Sans,10" background rgb "white"
set output outfile
set title "docker-credential-beta9: wall time per invocation (p50, whiskers p10-p90)"
set ylabel "milliseconds (log scale)"
set logscale y
set yrange [0.3:*]
set grid ytics mytics lc rgb "#dddddd"
set style fill solid 0.85 border -1
set boxwidth 0.6
stats datafile using 2 nooutput
set xrange [-0.6:STATS_records - 0.4]
set xtics rotate by -25 left nomirror
set ytics nomirror
set key top left
set bmargin 6
set rmargin 6

colour(g) = (g == 0 ? 0x999999 : (g == 1 ? 0x2b6cb0 : 0xdd6b20))

plot datafile using 0:2:(colour($5)):xtic(1) with boxes lc rgb variable notitle, \
     '' using 0:2:3:4 with yerrorbars lc rgb "#333333" pt 1 ps 0.01 notitle, \
     '' using 0:($4 * 1.12):(sprintf("%.2f", $2)) with labels font ",9" notitle, \
     NaN with boxes lc rgb "#999999" title "baseline (/bin/true)", \
     NaN with boxes lc rgb "#2b6cb0" title "docker-credential-beta9", \
     NaN with boxes lc rgb "#dd6b20" title "docker-credential-ecr-login (Debian)"
