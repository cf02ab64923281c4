/// The fleet query asks its questions through the shipper's client.
extension ClickHouseClient: ClickHouseSelecting {}
