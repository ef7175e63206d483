
 

customer"customer_idJrides
 

__dummy"
__dummy_idJrides


card"card_idJfraud2^
\
ordersridescustomer"	
total"
paid:tsZ/srv/orders.csv@b
customer_id2j
h
globalrides__dummy"
n:Gtsä9feast.infra.offline_stores.bigquery_source.BigQuerySource¢bq:!

allrides
orders
ratio: 

aliasedrides
orderso2B

ratioridesr}
{
clicksridescustomer"	
count*
customer_idR-tsZs3://b/clicks.parquet¢clicks_fileZts¢clicks_kafka