module leaseguard.local/pause

go 1.19
