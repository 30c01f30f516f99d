"""The voucher domain: vouchers, their use, analytics and exports."""
