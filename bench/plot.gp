# Latency of spawn+wait vs parent RSS, one line per method, min-max as error bars.
# usage: gnuplot -e "datafile='rss.dat'; outfile='rss.png'; methods='a b c'" bench/plot.gp
# datafile: one block per method (in the order of `methods`), blocks separated
# by two blank lines, rows "rss_gib median min max" (bench/run writes it).
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    set terminal pngcairo size 960,600 font ",11"
} else {
    set terminal png size 960,600
}
set output outfile
set termoption noenhanced  # method names contain "_"
set title "spawn+wait of a static target vs touched parent memory (median of rounds, bars: min-max)"
set xlabel "parent RSS touched (GiB)"
set ylabel "µs per spawn+wait (log scale)"
set logscale y
set grid ytics mytics xtics
set key top left
n = words(methods)
plot for [i=1:n] datafile index (i-1) using 1:2:3:4 with yerrorlines lw 2 title word(methods, i)
