
8
6
driver	A driver."	driver_idB
teamridesJrides12ó
ğ
driver_hourlyridesdriver"
	conv_rate"	
trips"

cities2€£:?event_timestampZdata/driver_stats.parquet¢driver_stats@JR	¢driver_pushÒ?event_timestampZdata/driver_stats.parquet¢driver_statsb
	driver_id:2
0
rankingrides
driver_hourly
	conv_ratebc	¢driver_pushªridesÒHevent_timestamp*createdZdata/driver_stats.parquet¢driver_stats