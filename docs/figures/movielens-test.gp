set terminal svg size 900,420 font "sans,11"
set output "docs/figures/movielens-test.svg"
set multiplot layout 1,2 title "MovieLens-format data: test metrics, mean ± std over 5 seeds"
set style data histograms
set style histogram errorbars gap 1 lw 1
set style fill solid 0.6 border -1
set xtics rotate by -50 scale 0 font ",9"
set key off
set title "test loss (lower is better)"
set yrange [1.0:1.6]
plot "docs/figures/movielens-test.dat" using 2:3:xtic(1) lc rgb "#4477aa"
set title "test watch ROC AUC (higher is better)"
set yrange [0.68:0.79]
plot "docs/figures/movielens-test.dat" using 4:5:xtic(1) lc rgb "#cc6677"
unset multiplot
