nslbench ; GT.M's own LOCK +/- in one process, for bench/compare-gtm.
 ; Prints one line "figure value" per result, so a shell script can pick it up.
 ;   mumps -run pairs^nslbench N R        N pairs LOCK +^a(i) LOCK -^a(i), R
 ;                                        times; the best of the R runs
 ;   mumps -run held^nslbench H N CAP     take ^h(1..H) one by one (stop at CAP
 ;                                        seconds), then N pairs on ^a(i) and
 ;                                        N pairs on ^h(H+i) while holding them
 ; Times come from $ZUT (microseconds); $ZUT is read once per 1,000 operations
 ; in the timed loops so that reading the clock costs nothing measurable.
 quit
 ;
pairs ; uncontended lock+unlock of distinct names
 new n,r,k,i,t0,us,best
 set n=+$piece($zcmdline," ",1) set:n<1 n=1000000
 set r=+$piece($zcmdline," ",2) set:r<1 r=1
 set best=0
 for k=1:1:r do
 . set t0=$zut
 . for i=1:1:n lock +^a(i) lock -^a(i)
 . set us=$zut-t0 set:us<1 us=1
 . if n*1E6/us>best set best=n*1E6/us
 write "pairs ",n,!,"runs ",r,!,"pairs_per_s ",$justify(best,0,0),!
 quit
 ;
held ; the same while this process holds many locks
 new h,n,cap,i,j,t0,tc,us,got,rate,last
 set h=+$piece($zcmdline," ",1) set:h<1 h=100000
 set n=+$piece($zcmdline," ",2) set:n<1 n=10000
 set cap=+$piece($zcmdline," ",3) set:cap<1 cap=60
 ; acquisition rate over each block of 1,000, to show how it falls as the table grows
 set t0=$zut,tc=t0,got=0,last=0
 for i=1:1:h lock +^h(i) set got=i if i#1000=0 do  quit:($zut-t0)>(cap*1E6)
 . set us=$zut-tc,tc=$zut set:us<1 us=1
 . set last=1000*1E6/us
 . if i#10000=0 write "acquire_rate_at ",i," ",$justify(last,0,0),!
 set us=$zut-t0 set:us<1 us=1
 write "held ",got,!,"acquire_all_per_s ",$justify(got*1E6/us,0,0),!
 write "acquire_last_1000_per_s ",$justify(last,0,0),!
 ; pairs on names outside the held subtree
 set t0=$zut
 for j=1:1:n lock +^a(j) lock -^a(j)
 set us=$zut-t0 set:us<1 us=1
 write "held_pairs_other_per_s ",$justify(n*1E6/us,0,0),!
 ; pairs on new siblings of the held names
 set t0=$zut
 for j=1:1:n lock +^h(got+j) lock -^h(got+j)
 set us=$zut-t0 set:us<1 us=1
 write "held_pairs_sibling_per_s ",$justify(n*1E6/us,0,0),!
 lock
 quit
