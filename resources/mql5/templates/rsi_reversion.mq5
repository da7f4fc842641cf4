//+------------------------------------------------------------------+
//| RSI mean reversion Expert Advisor (TNM Desktop template)         |
//| Buys when the RSI climbs back above the oversold level, sells    |
//| when it falls back below the overbought level, and closes when   |
//| the RSI reaches the exit level. An optional moving average only  |
//| allows trades in the direction of the trend. One position per    |
//| symbol and magic number; the volume risks a share of the balance.|
//+------------------------------------------------------------------+
#property copyright "TNM Desktop template"
#property version   "1.00"
#property description "RSI mean reversion with a fixed stop, an RSI exit and an optional trend filter."

#include <Trade\Trade.mqh>

input group "Signal"
input int                InpRsiPeriod        = {{rsi_period}};         // RSI period
input ENUM_APPLIED_PRICE InpRsiPrice         = {{rsi_price}};          // RSI applied price
input double             InpOversold         = {{oversold}};           // Oversold level (buy above it)
input double             InpOverbought       = {{overbought}};         // Overbought level (sell below it)
input double             InpExitLevel        = {{exit_level}};         // Close when the RSI reaches this level

input group "Trend filter"
input bool               InpUseTrendFilter   = {{use_trend_filter}};   // Trade only with the trend
input int                InpTrendPeriod      = {{trend_period}};       // Trend MA period

input group "Risk"
input double             InpRiskPercent      = {{risk_percent}};       // Risk per trade, % of balance
input int                InpStopLossPoints   = {{stop_loss_points}};   // Stop loss, points
input int                InpTakeProfitPoints = {{take_profit_points}}; // Take profit, points (0 = none)
input int                InpSlippagePoints   = {{slippage_points}};    // Maximum slippage, points

input group "Identification"
input ulong              InpMagic            = {{magic}};              // Magic number
input string             InpComment          = {{comment}};            // Order comment

CTrade   trade;
int      rsiHandle   = INVALID_HANDLE;
int      trendHandle = INVALID_HANDLE;
datetime lastBarTime = 0;

//+------------------------------------------------------------------+
int OnInit()
{
   if(!(InpOversold < InpExitLevel && InpExitLevel < InpOverbought))
   {
      Print("The levels must satisfy oversold < exit level < overbought.");
      return(INIT_PARAMETERS_INCORRECT);
   }
   rsiHandle = iRSI(_Symbol, _Period, InpRsiPeriod, InpRsiPrice);
   if(rsiHandle == INVALID_HANDLE)
   {
      PrintFormat("Could not create the RSI indicator (error %d).", GetLastError());
      return(INIT_FAILED);
   }
   if(InpUseTrendFilter)
   {
      trendHandle = iMA(_Symbol, _Period, InpTrendPeriod, 0, MODE_SMA, PRICE_CLOSE);
      if(trendHandle == INVALID_HANDLE)
      {
         PrintFormat("Could not create the trend moving average (error %d).", GetLastError());
         return(INIT_FAILED);
      }
   }
   trade.SetExpertMagicNumber(InpMagic);
   trade.SetDeviationInPoints((ulong)InpSlippagePoints);
   trade.SetTypeFillingBySymbol(_Symbol);
   return(INIT_SUCCEEDED);
}

//+------------------------------------------------------------------+
void OnDeinit(const int reason)
{
   if(rsiHandle != INVALID_HANDLE)
      IndicatorRelease(rsiHandle);
   if(trendHandle != INVALID_HANDLE)
      IndicatorRelease(trendHandle);
}

//+------------------------------------------------------------------+
void OnTick()
{
   datetime barTime = iTime(_Symbol, _Period, 0);
   if(barTime == 0 || barTime == lastBarTime)
      return;                                   // act once per bar, on closed bars only

   double rsi[];
   ArraySetAsSeries(rsi, true);
   if(CopyBuffer(rsiHandle, 0, 1, 2, rsi) < 2)
      return;                                   // not calculated yet: try again on the next tick
   double trend = 0.0;
   if(InpUseTrendFilter)
   {
      double ma[];
      ArraySetAsSeries(ma, true);
      if(CopyBuffer(trendHandle, 0, 1, 1, ma) < 1)
         return;
      trend = ma[0];
   }
   lastBarTime = barTime;
   double lastClose = iClose(_Symbol, _Period, 1);

   if(SelectOurPosition())
   {
      long type      = PositionGetInteger(POSITION_TYPE);
      bool exitLong  = type == POSITION_TYPE_BUY && rsi[0] >= InpExitLevel;
      bool exitShort = type == POSITION_TYPE_SELL && rsi[0] <= InpExitLevel;
      if(exitLong || exitShort)
      {
         if(!trade.PositionClose((ulong)PositionGetInteger(POSITION_TICKET)))
            PrintFormat("Close failed: retcode %u (%s)", trade.ResultRetcode(), trade.ResultRetcodeDescription());
      }
      return;                                   // one position at a time
   }

   bool crossedUp    = rsi[1] < InpOversold && rsi[0] >= InpOversold;
   bool crossedDown  = rsi[1] > InpOverbought && rsi[0] <= InpOverbought;
   bool longAllowed  = !InpUseTrendFilter || lastClose > trend;
   bool shortAllowed = !InpUseTrendFilter || lastClose < trend;
   if(crossedUp && longAllowed)
      OpenPosition(true);
   else if(crossedDown && shortAllowed)
      OpenPosition(false);
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
