//+------------------------------------------------------------------+
//| Moving-average cross Expert Advisor (TNM Desktop template)       |
//| Buys when the fast average crosses above the slow one and sells  |
//| when it crosses below, on closed bars. One position per symbol   |
//| and magic number; the volume risks a fixed share of the balance. |
//+------------------------------------------------------------------+
#property copyright "TNM Desktop template"
#property version   "1.00"
#property description "Moving-average cross with a fixed stop and risk-based volume."

#include <Trade\Trade.mqh>

input group "Signal"
input int                InpFastPeriod       = {{fast_period}};        // Fast MA period
input int                InpSlowPeriod       = {{slow_period}};        // Slow MA period
input ENUM_MA_METHOD     InpMaMethod         = {{ma_method}};          // MA method
input ENUM_APPLIED_PRICE InpAppliedPrice     = {{applied_price}};      // Applied price
input bool               InpCloseOnOpposite  = {{close_on_opposite}};  // Close on the opposite cross

input group "Risk"
input double             InpRiskPercent      = {{risk_percent}};       // Risk per trade, % of balance
input int                InpStopLossPoints   = {{stop_loss_points}};   // Stop loss, points
input int                InpTakeProfitPoints = {{take_profit_points}}; // Take profit, points (0 = none)
input int                InpSlippagePoints   = {{slippage_points}};    // Maximum slippage, points

input group "Identification"
input ulong              InpMagic            = {{magic}};              // Magic number
input string             InpComment          = {{comment}};            // Order comment

CTrade   trade;
int      fastHandle  = INVALID_HANDLE;
int      slowHandle  = INVALID_HANDLE;
datetime lastBarTime = 0;

//+------------------------------------------------------------------+
int OnInit()
{
   if(InpFastPeriod >= InpSlowPeriod)
   {
      Print("The fast period must be shorter than the slow period.");
      return(INIT_PARAMETERS_INCORRECT);
   }
   fastHandle = iMA(_Symbol, _Period, InpFastPeriod, 0, InpMaMethod, InpAppliedPrice);
   slowHandle = iMA(_Symbol, _Period, InpSlowPeriod, 0, InpMaMethod, InpAppliedPrice);
   if(fastHandle == INVALID_HANDLE || slowHandle == INVALID_HANDLE)
   {
      PrintFormat("Could not create the moving averages (error %d).", GetLastError());
      return(INIT_FAILED);
   }
   trade.SetExpertMagicNumber(InpMagic);
   trade.SetDeviationInPoints((ulong)InpSlippagePoints);
   trade.SetTypeFillingBySymbol(_Symbol);
   return(INIT_SUCCEEDED);
}

//+------------------------------------------------------------------+
void OnDeinit(const int reason)
{
   if(fastHandle != INVALID_HANDLE)
      IndicatorRelease(fastHandle);
   if(slowHandle != INVALID_HANDLE)
      IndicatorRelease(slowHandle);
}

//+------------------------------------------------------------------+
void OnTick()
{
   datetime barTime = iTime(_Symbol, _Period, 0);
   if(barTime == 0 || barTime == lastBarTime)
      return;                                   // act once per bar, on closed bars only

   double fast[], slow[];
   ArraySetAsSeries(fast, true);
   ArraySetAsSeries(slow, true);
   if(CopyBuffer(fastHandle, 0, 1, 2, fast) < 2 || CopyBuffer(slowHandle, 0, 1, 2, slow) < 2)
      return;                                   // not calculated yet: try again on the next tick
   lastBarTime = barTime;

   bool crossUp   = fast[1] <= slow[1] && fast[0] > slow[0];
   bool crossDown = fast[1] >= slow[1] && fast[0] < slow[0];
   if(!crossUp && !crossDown)
      return;

   if(SelectOurPosition())
   {
      long type     = PositionGetInteger(POSITION_TYPE);
      bool opposite = (crossUp && type == POSITION_TYPE_SELL) || (crossDown && type == POSITION_TYPE_BUY);
      if(!opposite || !InpCloseOnOpposite)
         return;                                // one position at a time
      if(!trade.PositionClose((ulong)PositionGetInteger(POSITION_TICKET)))
      {
         PrintFormat("Close failed: retcode %u (%s)", trade.ResultRetcode(), trade.ResultRetcodeDescription());
         return;
      }
   }
   OpenPosition(crossUp);
}

//+------------------------------------------------------------------+
//| Select this EA's position on this symbol; false when there is none |
//+------------------------------------------------------------------+
bool SelectOurPosition()
{
   for(int i = PositionsTotal() - 1; i >= 0; i--)
   {
      ulong ticket = PositionGetTicket(i);
      if(ticket == 0)
         continue;
      if(PositionGetString(POSITION_SYMBOL) == _Symbol && PositionGetInteger(POSITION_MAGIC) == (long)InpMagic)
         return(true);
   }
   return(false);
}

//+------------------------------------------------------------------+
//| Stop distance in price, never closer than the broker allows      |
//+------------------------------------------------------------------+
double StopDistance(const int points)
{
   long stopsLevel = SymbolInfoInteger(_Symbol, SYMBOL_TRADE_STOPS_LEVEL);
   return(MathMax((double)points, (double)stopsLevel + 1.0) * _Point);
}

//+------------------------------------------------------------------+
//| Volume that loses InpRiskPercent of the balance at the stop,     |
//| rounded down to the volume step; 0 when even the minimum is more |
//+------------------------------------------------------------------+
double LotsForRisk(const double stopDistance)
{
   double tickValue = SymbolInfoDouble(_Symbol, SYMBOL_TRADE_TICK_VALUE);
   double tickSize  = SymbolInfoDouble(_Symbol, SYMBOL_TRADE_TICK_SIZE);
   double step      = SymbolInfoDouble(_Symbol, SYMBOL_VOLUME_STEP);
   double minLot    = SymbolInfoDouble(_Symbol, SYMBOL_VOLUME_MIN);
   double maxLot    = SymbolInfoDouble(_Symbol, SYMBOL_VOLUME_MAX);
   if(stopDistance <= 0.0 || tickValue <= 0.0 || tickSize <= 0.0 || step <= 0.0)
      return(0.0);
   double riskMoney  = AccountInfoDouble(ACCOUNT_BALANCE) * InpRiskPercent / 100.0;
   double lossPerLot = stopDistance / tickSize * tickValue;
   double lots       = MathFloor(riskMoney / lossPerLot / step + 1e-9) * step;
   if(lots < minLot)
      return(0.0);
   lots = MathMin(lots, maxLot);
   int digits = (int)MathMax(0.0, MathCeil(-MathLog10(step) - 1e-9));
   return(NormalizeDouble(lots, digits));
}

//+------------------------------------------------------------------+
void OpenPosition(const bool buy)
{
   double price = buy ? SymbolInfoDouble(_Symbol, SYMBOL_ASK) : SymbolInfoDouble(_Symbol, SYMBOL_BID);
   double stop  = StopDistance(InpStopLossPoints);
   double lots  = LotsForRisk(stop);
   if(lots <= 0.0)
   {
      Print("Trade skipped: the stop is too wide for the risk setting, or the symbol has no contract data.");
      return;
   }
   double sl = NormalizeDouble(buy ? price - stop : price + stop, _Digits);
   double tp = 0.0;
   if(InpTakeProfitPoints > 0)
      tp = NormalizeDouble(buy ? price + InpTakeProfitPoints * _Point : price - InpTakeProfitPoints * _Point, _Digits);
   bool sent = buy ? trade.Buy(lots, _Symbol, price, sl, tp, InpComment)
                   : trade.Sell(lots, _Symbol, price, sl, tp, InpComment);
   if(!sent)
      PrintFormat("Order failed: retcode %u (%s)", trade.ResultRetcode(), trade.ResultRetcodeDescription());
}
//+------------------------------------------------------------------+
